"""METADATA and METADATA-SERVER (RFC 5464): GETMETADATA / SETMETADATA on
mailboxes and on the server (""), DEPTH and MAXSIZE, values of any bytes,
the limits, entry name rules, and entries following RENAME and going with
DELETE."""

import imaplib
import socket

import pytest

from conftest import Server
from test_imap import PW, connect, imap_server  # noqa: F401

# imaplib does not know these commands.
for _c in ("GETMETADATA", "SETMETADATA"):
    imaplib.Commands.setdefault(_c, ("AUTH", "SELECTED"))

# src/lib/limits.h
MAX_VALUE = 16 * 1024
MAX_ENTRIES = 128


class Raw:
    """A line-level IMAP client: imaplib cannot send literal8 nor show
    the exact untagged lines."""

    def __init__(self, server, user="alice"):
        self.s = socket.create_connection(("127.0.0.1",
                                           server.ports["imap"]), timeout=10)
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()
        typ, _, _ = self.cmd(b'LOGIN %s "%s"' % (user.encode(),
                                                  PW.encode()))
        assert typ == b"OK"

    def read_response(self):
        """One line, with any literals it announces, as bytes."""
        line = self.f.readline()
        out = line
        while line.endswith(b"}\r\n"):
            start = line.rindex(b"{")
            n = int(line[start + 1:-3].rstrip(b"+"))
            out += self.f.read(n)
            line = self.f.readline()
            out += line
        return out

    def cmd(self, *parts):
        """Sends a command made of byte parts; an int part is a literal
        whose bytes follow as the next part (synchronising: waits for +).
        Returns (status, [untagged responses], tagged line)."""
        self.n += 1
        tag = b"t%d" % self.n
        buf = tag + b" "
        parts = list(parts)
        i = 0
        while i < len(parts):
            p = parts[i]
            if isinstance(p, tuple):  # (prefix, data): literal
                prefix, data = p
                buf += prefix + b"{%d}\r\n" % len(data)
                self.s.sendall(buf)
                cont = self.f.readline()
                if not cont.startswith(b"+"):
                    return self._finish(tag, cont)
                buf = data
            else:
                buf += p
            i += 1
        self.s.sendall(buf + b"\r\n")
        return self._finish(tag, None)

    def _finish(self, tag, first):
        untagged = []
        line = first
        while True:
            if line is None:
                line = self.read_response()
            if line.startswith(tag + b" "):
                return line.split(b" ")[1], untagged, line
            untagged.append(line)
            line = None

    def close(self):
        self.s.close()


def command(m, name, *args):
    """(typ, data) of a command; a BAD reply (which imaplib raises) comes
    back as ("BAD", [text])."""
    try:
        return m._simple_command(name, *args)
    except imaplib.IMAP4.error as e:
        assert " BAD " in str(e) or "BAD" in str(e), e
        return "BAD", [str(e).encode()]


def metadata_lines(m, typ, data):
    """The METADATA responses: imaplib also files the OK's
    [METADATA LONGENTRIES n] code under METADATA, so drop that."""
    typ, data = m._untagged_response(typ, data, "METADATA")
    return [d for d in data
            if d is not None and not (isinstance(d, bytes) and
                                      d.startswith(b"LONGENTRIES"))]


def getmeta(m, *args):
    typ, data = command(m, "GETMETADATA", *args)
    assert typ == "OK", data
    return metadata_lines(m, typ, data)


def setmeta(m, mailbox, pairs):
    return command(m, "SETMETADATA", mailbox, pairs)


def test_capability(imap_server):
    m = connect(imap_server)
    caps = m.capabilities
    assert "METADATA" in caps and "METADATA-SERVER" in caps
    m.logout()


def test_set_get_remove(imap_server):
    m = connect(imap_server)
    typ, data = setmeta(m, "INBOX",
                        '(/private/comment "mine" /shared/comment "ours")')
    assert typ == "OK", data
    assert getmeta(m, "INBOX", "/private/comment") == \
        [b'"INBOX" ("/private/comment" "mine")']
    # Private and shared entries are distinct.
    assert getmeta(m, "INBOX", "(/shared/comment /private/comment)") == \
        [b'"INBOX" ("/private/comment" "mine" "/shared/comment" "ours")']
    # Names are case-insensitive.
    assert getmeta(m, "INBOX", "/PRIVATE/Comment") == \
        [b'"INBOX" ("/private/comment" "mine")']
    # Options after the mailbox (RFC examples) or before it (ABNF).
    assert getmeta(m, "(DEPTH 0)", "INBOX", "/private/comment") == \
        [b'"INBOX" ("/private/comment" "mine")']
    # Removing with NIL; an entry without a value reads as NIL.
    typ, data = setmeta(m, "INBOX", "(/private/comment NIL)")
    assert typ == "OK", data
    assert getmeta(m, "INBOX", "/private/comment") == \
        [b'"INBOX" ("/private/comment" NIL)']
    assert getmeta(m, "INBOX", "/shared/comment") == \
        [b'"INBOX" ("/shared/comment" "ours")']
    # Removing what is not there is fine.
    assert setmeta(m, "INBOX", "(/private/nothing NIL)")[0] == "OK"
    # The empty string is a value, not a removal.
    assert setmeta(m, "INBOX", '(/private/empty "")')[0] == "OK"
    assert getmeta(m, "INBOX", "/private/empty") == \
        [b'"INBOX" ("/private/empty" "")']
    m.logout()
    # It outlives the session.
    m = connect(imap_server)
    assert getmeta(m, "INBOX", "/shared/comment") == \
        [b'"INBOX" ("/shared/comment" "ours")']
    m.logout()


def test_users_apart(imap_server):
    m = connect(imap_server)
    assert setmeta(m, "INBOX", '(/shared/comment "alice")')[0] == "OK"
    m.logout()
    m = connect(imap_server, "bob")
    assert getmeta(m, "INBOX", "/shared/comment") == \
        [b'"INBOX" ("/shared/comment" NIL)']
    m.logout()


def test_depth(imap_server):
    m = connect(imap_server)
    assert m.create("d")[0] == "OK"
    pairs = ('(/private/a "1" /private/a/b "2" /private/a/b/c "3" '
             '/private/ab "x" /shared/a "s")')
    assert setmeta(m, "d", pairs)[0] == "OK"
    assert getmeta(m, "d", "/private/a") == [b'"d" ("/private/a" "1")']
    assert getmeta(m, "d", "(DEPTH 1)", "/private/a") == \
        [b'"d" ("/private/a" "1" "/private/a/b" "2")']
    assert getmeta(m, "d", "(DEPTH infinity)", "/private/a") == \
        [b'"d" ("/private/a" "1" "/private/a/b" "2" "/private/a/b/c" "3")']
    # A whole tree, and overlapping requests give each entry once.
    assert getmeta(m, "d", "(DEPTH infinity)",
                   "(/private /private/a/b)") == \
        [b'"d" ("/private/a" "1" "/private/a/b" "2" "/private/a/b/c" "3" '
         b'"/private/ab" "x")']
    assert getmeta(m, "d", "(DEPTH 1)", "/shared") == \
        [b'"d" ("/shared/a" "s")']
    # An entry with no value of its own but with children.
    assert getmeta(m, "d", "(DEPTH 1)", "/private/a/b/c/d") == \
        [b'"d" ("/private/a/b/c/d" NIL)']
    typ, data = command(m, "GETMETADATA", "d", "(DEPTH 2)", "/private/a")
    assert typ == "BAD", data
    m.logout()


def test_maxsize(imap_server):
    m = connect(imap_server)
    big = "x" * 2199
    assert setmeta(m, "INBOX", '(/private/comment "small" '
                   '/shared/comment "%s")' % big)[0] == "OK"
    typ, data = command(m, "GETMETADATA", "INBOX", "(MAXSIZE 1024)",
                        "(/shared/comment /private/comment)")
    assert typ == "OK", data
    assert b"[METADATA LONGENTRIES 2199]" in data[-1], data
    assert metadata_lines(m, typ, data) == \
        [b'"INBOX" ("/private/comment" "small")']
    # Big enough: no LONGENTRIES.
    typ, data = command(m, "GETMETADATA", "(MAXSIZE 4096)", "INBOX",
                        "/shared/comment")
    assert typ == "OK" and b"LONGENTRIES" not in data[-1], data
    got = metadata_lines(m, typ, data)
    assert got[0][1] == b"x" * 2199, got
    # Nothing small enough: no METADATA response at all.
    typ, data = command(m, "GETMETADATA", "(MAXSIZE 10)", "INBOX",
                        "/shared/comment")
    assert typ == "OK" and b"[METADATA LONGENTRIES 2199]" in data[-1]
    assert metadata_lines(m, typ, data) == []
    for bad in ("(MAXSIZE -1)", "(MAXSIZE x)", "(MAXSIZE 1 MAXSIZE 2)",
                "(FOO 1)", "()", "(MAXSIZE)"):
        typ, data = command(m, "GETMETADATA", "INBOX", bad,
                            "/shared/comment")
        assert typ == "BAD", (bad, data)
    m.logout()


def test_binary_values(imap_server):
    r = Raw(imap_server)
    value = bytes(range(256)) * 4
    typ, _, line = r.cmd(b"SETMETADATA INBOX (/private/vendor/vendor.quire"
                         b"/bin ", (b"~", value), b")")
    assert typ == b"OK", line
    typ, unt, line = r.cmd(b"GETMETADATA INBOX "
                           b"/private/vendor/vendor.quire/bin")
    assert typ == b"OK", line
    assert unt == [b'* METADATA "INBOX" ("/private/vendor/vendor.quire/bin" '
                   b'~{1024}\r\n' + value + b')\r\n'], unt
    # 8-bit text without NUL comes back as a plain literal.
    text = "Grüße, ☃".encode()
    typ, _, line = r.cmd(b"SETMETADATA INBOX (/shared/comment ",
                         (b"", text), b")")
    assert typ == b"OK", line
    typ, unt, line = r.cmd(b"GETMETADATA INBOX /shared/comment")
    assert unt == [b'* METADATA "INBOX" ("/shared/comment" {%d}\r\n'
                   % len(text) + text + b')\r\n'], unt
    # Quotes and backslashes in a quoted value survive.
    typ, _, line = r.cmd(b'SETMETADATA INBOX (/shared/comment "a\\"b\\\\c")')
    assert typ == b"OK", line
    typ, unt, line = r.cmd(b"GETMETADATA INBOX /shared/comment")
    assert unt == [b'* METADATA "INBOX" ("/shared/comment" "a\\"b\\\\c")\r\n']
    r.close()


def test_value_too_large(imap_server):
    r = Raw(imap_server)
    typ, _, line = r.cmd(b"SETMETADATA INBOX (/private/ok \"1\" "
                         b"/private/big ", (b"", b"y" * (MAX_VALUE + 1)),
                         b")")
    assert typ == b"NO" and b"[METADATA MAXSIZE %d]" % MAX_VALUE in line
    # All or nothing: the small one was not set either.
    typ, unt, line = r.cmd(b"GETMETADATA INBOX (/private/ok /private/big)")
    assert unt == [b'* METADATA "INBOX" ("/private/big" NIL '
                   b'"/private/ok" NIL)\r\n'], unt
    typ, _, line = r.cmd(b"SETMETADATA INBOX (/private/big ",
                         (b"", b"y" * MAX_VALUE), b")")
    assert typ == b"OK", line
    r.close()


def test_too_many(imap_server):
    m = connect(imap_server)
    assert m.create("many")[0] == "OK"
    pairs = " ".join('/private/e%d "v"' % i for i in range(MAX_ENTRIES))
    assert setmeta(m, "many", "(%s)" % pairs)[0] == "OK"
    typ, data = setmeta(m, "many", '(/shared/one "more")')
    assert typ == "NO" and b"[METADATA TOOMANY]" in data[0], data
    # Replacing and removing still work at the limit.
    assert setmeta(m, "many", '(/private/e0 "new")')[0] == "OK"
    assert setmeta(m, "many", "(/private/e1 NIL)")[0] == "OK"
    assert setmeta(m, "many", '(/shared/one "more")')[0] == "OK"
    # Another mailbox has its own count.
    assert setmeta(m, "INBOX", '(/shared/one "more")')[0] == "OK"
    m.logout()


@pytest.mark.parametrize("entry", [
    "/private/a*", "/private/a%", "/private//a", "/private/a/", "/comment",
    "private/comment", "/", "/other/x", "/private", "/shared",
    "/shared/vendor", "/private/vendor",
])
def test_bad_names_set(imap_server, entry):
    m = connect(imap_server)
    typ, data = setmeta(m, "INBOX", '("%s" "v")' % entry)
    assert typ == "BAD", (entry, data)
    m.logout()


def test_bad_names_get(imap_server):
    m = connect(imap_server)
    for entry in ("/private/a*", "/private//a", "/private/a/", "/x/y", "/",
                  '""'):
        typ, data = command(m, "GETMETADATA", "INBOX", entry)
        assert typ == "BAD", (entry, data)
    r = Raw(imap_server)
    typ, _, line = r.cmd(b"GETMETADATA INBOX ", (b"", b"/private/a\x01b"))
    assert typ == b"BAD", line
    typ, _, line = r.cmd(b"GETMETADATA INBOX ", (b"", b"/private/\xff"))
    assert typ == b"BAD", line
    r.close()
    m.logout()


def test_bad_syntax(imap_server):
    m = connect(imap_server)
    for args in [("INBOX",), ("INBOX", "(/private/a)"),
                 ("INBOX", "(/private/a \"v\" /private/b)"),
                 ("INBOX", "()"), ("INBOX", "(/private/a atom)"),
                 ("INBOX", "(/private/a (\"v\"))")]:
        typ, data = command(m, "SETMETADATA", *args)
        assert typ == "BAD", (args, data)
    for args in [(), ("INBOX",), ("INBOX", "()"),
                 ("(DEPTH 1)", "INBOX", "/a", "/b")]:
        typ, data = command(m, "GETMETADATA", *args)
        assert typ == "BAD", (args, data)
    m.logout()


def test_nonexistent_mailbox(imap_server):
    m = connect(imap_server)
    typ, data = command(m, "GETMETADATA", "nope", "/private/comment")
    assert typ == "NO" and b"NONEXISTENT" in data[0], data
    typ, data = setmeta(m, "nope", '(/private/comment "x")')
    assert typ == "NO" and b"NONEXISTENT" in data[0], data
    m.logout()


def test_rename_and_delete(imap_server):
    m = connect(imap_server)
    assert m.create("old/child")[0] == "OK"
    assert setmeta(m, "old", '(/private/comment "parent")')[0] == "OK"
    assert setmeta(m, "old/child", '(/shared/comment "kid")')[0] == "OK"
    assert m.rename("old", "new")[0] == "OK"
    assert getmeta(m, "new", "/private/comment") == \
        [b'"new" ("/private/comment" "parent")']
    assert getmeta(m, "new/child", "/shared/comment") == \
        [b'"new/child" ("/shared/comment" "kid")']
    # Recreating the old name does not bring them back.
    assert m.create("old")[0] == "OK"
    assert getmeta(m, "old", "/private/comment") == \
        [b'"old" ("/private/comment" NIL)']
    # DELETE removes them: a new mailbox of the name starts empty.
    assert m.delete("new/child")[0] == "OK"
    assert m.create("new/child")[0] == "OK"
    assert getmeta(m, "new/child", "/shared/comment") == \
        [b'"new/child" ("/shared/comment" NIL)']
    m.logout()


def test_server_entries(imap_server):
    m = connect(imap_server)
    # Private server entries are the user's own.
    assert setmeta(m, '""', '(/private/vendor/vendor.quire/x "1")')[0] \
        == "OK"
    assert getmeta(m, '""', "(DEPTH infinity)", "/private") == \
        [b'"" ("/private/vendor/vendor.quire/x" "1")']
    # Shared server entries are the administrator's.
    typ, data = setmeta(m, '""', '(/shared/comment "x")')
    assert typ == "NO" and b"[NOPERM]" in data[0], data
    # No admin_contact configured: no /shared/admin.
    assert getmeta(m, '""', "/shared/admin") == \
        [b'"" ("/shared/admin" NIL)']
    # Server entries and INBOX's are apart.
    assert getmeta(m, "INBOX", "/private/vendor/vendor.quire/x") == \
        [b'"INBOX" ("/private/vendor/vendor.quire/x" NIL)']
    m.logout()


def test_server_admin(tmp_path):
    srv = Server(tmp_path, extra_conf="[server]\n"
                 "admin_contact = mailto:postmaster@example.org\n")
    srv.add_user("alice", PW)
    srv.start(wait=("imap",))
    try:
        m = connect(srv)
        assert getmeta(m, '""', "/shared/admin") == \
            [b'"" ("/shared/admin" "mailto:postmaster@example.org")']
        assert getmeta(m, '""', "(DEPTH 1)", "/shared") == \
            [b'"" ("/shared/admin" "mailto:postmaster@example.org")']
        typ, data = setmeta(m, '""', "(/shared/admin NIL)")
        assert typ == "NO", data
        m.logout()
    finally:
        assert srv.stop() in (None, 0)
