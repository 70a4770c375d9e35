"""Quotas (RFC 9208 QUOTA, RFC 7889 APPENDLIMIT) over real sockets:
GETQUOTAROOT/GETQUOTA numbers, APPEND/COPY/MULTIAPPEND over quota, LMTP
552 5.2.2 per recipient, `quire deliver` exit code, the [quota] defaults
and the passwd-file override."""

import imaplib
import os
import re
import socket
import subprocess

import pytest

from conftest import QUIRE
from helpers import LMTP, make_message

PW = "quota-pw-1"
APPENDLIMIT = 64 * 1024 * 1024


def start(server, conf="", extra=None):
    """Adds alice and bob, gives users the passwd-file fields in extra
    ({user: "k=v k=v"}), writes [quota] conf and starts quired."""
    for u in ("alice", "bob"):
        server.add_user(u, PW)
    if extra:
        path = os.path.join(server.data, "passwd")
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            user = line.split(":", 1)[0]
            if user in extra:
                # user:password:uid:gid:gecos:home:shell:extra_fields
                fields = line.split(":")
                fields += [""] * (7 - len(fields))
                line = ":".join(fields[:7]) + ":" + extra[user]
            out.append(line)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
    server.extra_conf = conf
    server.write_conf()
    server.start(wait=("imap", "lmtp"))
    return server


def connect(server, user="alice"):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    m.login(user, PW)
    return m


def quota_of(m, root='""'):
    """The parsed QUOTA response: {resource: (usage, limit)}."""
    typ, data = m._simple_command("GETQUOTA", root)
    assert typ == "OK", data
    line = m.untagged_responses.pop("QUOTA")[0]
    return parse_quota(line)


def parse_quota(line):
    inner = re.search(rb'\((.*)\)', line).group(1).split()
    return {inner[i].decode(): (int(inner[i + 1]), int(inner[i + 2]))
            for i in range(0, len(inner), 3)}


def append(m, msg, box="INBOX"):
    return m.append(box, None, None, msg)


def msg_of_size(n, size):
    """A message of exactly size bytes."""
    head = make_message(n, body_lines=[])
    assert len(head) + 2 <= size
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


def test_capability(server):
    start(server)
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    caps = m.capabilities
    for c in ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
              "APPENDLIMIT=%d" % APPENDLIMIT):
        assert c in caps, caps
    # No QUOTASET: limits are the administrator's.
    assert "QUOTASET" not in caps
    m.login("alice", PW)
    typ, data = m.capability()
    assert b"APPENDLIMIT=%d" % APPENDLIMIT in data[0]
    m.logout()


def test_getquota_numbers_after_append_and_expunge(server):
    start(server, "[quota]\nstorage = 1M\nmessages = 10\n")
    m = connect(server)
    assert quota_of(m) == {"STORAGE": (0, 1024), "MESSAGE": (0, 10)}
    a, b = msg_of_size(1, 3000), msg_of_size(2, 5000)
    assert append(m, a)[0] == "OK"
    assert append(m, b)[0] == "OK"
    assert append(m, a, "Trash")[0] == "OK"
    # STORAGE in units of 1024 octets (rounded down), over all mailboxes.
    assert quota_of(m) == {"STORAGE": (11000 // 1024, 1024),
                           "MESSAGE": (3, 10)}

    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK", data
    assert data[0] in ([b'INBOX ""'], [b'"INBOX" ""']), data
    assert parse_quota(data[1][0]) == {"STORAGE": (10, 1024),
                                      "MESSAGE": (3, 10)}
    # The mailbox need not exist (RFC 9208 4.1.2).
    typ, data = m.getquotaroot("No/Such")
    assert typ == "OK", data
    assert data[0] in ([b'"No/Such" ""'], [b'No/Such ""']), data

    # STATUS DELETED / DELETED-STORAGE / APPENDLIMIT.
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Deleted")
    typ, data = m.status("INBOX", "(MESSAGES DELETED DELETED-STORAGE "
                                  "APPENDLIMIT)")
    assert typ == "OK"
    assert data[0] == (b'"INBOX" (MESSAGES 2 DELETED 1 DELETED-STORAGE '
                       b'3000 APPENDLIMIT %d)' % APPENDLIMIT), data
    m.expunge()
    assert quota_of(m) == {"STORAGE": (8000 // 1024, 1024),
                           "MESSAGE": (2, 10)}
    # A DELETE gives its messages back too.
    assert m.delete("Trash")[0] == "OK"
    assert quota_of(m) == {"STORAGE": (5000 // 1024, 1024),
                           "MESSAGE": (1, 10)}

    # Only the root "" exists; SETQUOTA is refused.
    typ, data = m._simple_command("GETQUOTA", "other")
    assert typ == "NO"
    typ, data = m._simple_command("SETQUOTA", '""', "(STORAGE 10)")
    assert typ == "NO" and b"NOPERM" in data[0], data
    with pytest.raises(imaplib.IMAP4.error, match="SETQUOTA takes"):
        m._simple_command("SETQUOTA", '""')
    m.logout()


def test_no_limits(server):
    start(server)
    m = connect(server)
    append(m, msg_of_size(1, 2000))
    typ, data = m._simple_command("GETQUOTA", '""')
    assert typ == "OK"
    assert m.untagged_responses.pop("QUOTA") == [b'"" ()']
    m.logout()


def test_append_over_messages_limit(server):
    start(server, "[quota]\nmessages = 2\n")
    m = connect(server)
    assert append(m, make_message(1))[0] == "OK"
    assert append(m, make_message(2))[0] == "OK"
    typ, data = append(m, make_message(3))
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    assert m.select("INBOX")[1] == [b"2"]
    # Freeing one makes room again.
    m.store("1", "+FLAGS", "\\Deleted")
    m.expunge()
    assert append(m, make_message(4))[0] == "OK"
    m.logout()


def test_append_over_storage_limit(server):
    start(server, "[quota]\nstorage = 10K\n")
    m = connect(server)
    assert append(m, msg_of_size(1, 6000))[0] == "OK"
    # Refused before the literal is sent (synchronising literal) ...
    typ, data = append(m, msg_of_size(2, 6000))
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    # ... and after it (non-synchronising literal: the bytes come anyway
    # and the session goes on).
    s = socket.create_connection(("127.0.0.1", server.ports["imap"]),
                                 timeout=30)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice " + PW.encode() + b"\r\n")
    assert f.readline().startswith(b"a OK")
    big = msg_of_size(3, 6000)
    s.sendall(b"b APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
    assert f.readline().startswith(b"b NO [OVERQUOTA]")
    s.sendall(b"c NOOP\r\n")
    assert f.readline().startswith(b"c OK")
    # Exactly up to the limit still fits.
    fit = msg_of_size(4, 10 * 1024 - 6000)
    s.sendall(b"d APPEND INBOX {%d+}\r\n" % len(fit) + fit + b"\r\n")
    assert f.readline().startswith(b"d OK")
    s.sendall(b"e APPEND INBOX {%d+}\r\n" % 40 + b"x" * 38 + b"\r\n"
              + b"\r\n")
    assert f.readline().startswith(b"e NO [OVERQUOTA]")
    s.close()
    assert quota_of(m) == {"STORAGE": (10, 10)}
    m.logout()


def test_multiappend_all_or_nothing(server):
    start(server, "[quota]\nmessages = 3\n")
    m = connect(server)
    assert append(m, make_message(1))[0] == "OK"
    s = socket.create_connection(("127.0.0.1", server.ports["imap"]),
                                 timeout=30)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice " + PW.encode() + b"\r\n")
    assert f.readline().startswith(b"a OK")
    msgs = [make_message(10 + i) for i in range(3)]
    cmd = b"b APPEND INBOX"
    for x in msgs:
        cmd += b" {%d+}\r\n" % len(x) + x
    s.sendall(cmd + b"\r\n")
    line = f.readline()
    assert line.startswith(b"b NO [OVERQUOTA]"), line
    # Two of them would have fitted; none is there.
    s.sendall(b"c STATUS INBOX (MESSAGES)\r\n")
    assert f.readline() == b'* STATUS "INBOX" (MESSAGES 1)\r\n'
    assert f.readline().startswith(b"c OK")
    # Two at once do fit.
    cmd = b"d APPEND INBOX"
    for x in msgs[:2]:
        cmd += b" {%d+}\r\n" % len(x) + x
    s.sendall(cmd + b"\r\n")
    assert f.readline().startswith(b"d OK [APPENDUID")
    s.close()
    assert quota_of(m) == {"MESSAGE": (3, 3)}
    m.logout()


def test_copy_over_quota_move_allowed(server):
    start(server, "[quota]\nmessages = 3\n")
    m = connect(server)
    for i in range(2):
        assert append(m, make_message(i))[0] == "OK"
    m.select("INBOX")
    typ, data = m.copy("1:2", "Trash")
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    assert m.status("Trash", "(MESSAGES)")[1][0] == \
        b'"Trash" (MESSAGES 0)'
    # One fits.
    assert m.copy("1", "Trash")[0] == "OK"
    # MOVE never adds usage: allowed at the limit.
    typ, data = m._simple_command("MOVE", "1:2", "Archive")
    assert typ == "OK", data
    assert m.status("Archive", "(MESSAGES)")[1][0] == \
        b'"Archive" (MESSAGES 2)'
    assert quota_of(m) == {"MESSAGE": (3, 3)}
    m.logout()


def test_lmtp_one_recipient_over_quota(server):
    start(server, "", {"alice": "userdb_quota_messages=1"})
    lm = LMTP(port=server.ports["lmtp"])
    lm.cmd("LHLO test")
    codes = lm.deliver("s@example.org", ["alice@example.org"],
                       make_message(1))
    assert codes == [250]
    # alice is full now, bob is not: one reply each, after DATA.
    code, _ = lm.cmd("MAIL FROM:<s@example.org>")
    assert code == 250
    assert lm.cmd("RCPT TO:<alice@example.org>")[0] == 250
    assert lm.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert lm.cmd("DATA")[0] == 354
    msg = make_message(2)
    lm.send(msg + b".\r\n")
    code, text = lm.reply()
    assert code == 552 and text[0].startswith(b"5.2.2 "), text
    assert b"Mailbox full" in text[0]
    code, text = lm.reply()
    assert code == 250, text
    lm.close()
    for user, want in (("alice", 1), ("bob", 1)):
        m = connect(server, user)
        assert m.select("INBOX")[1] == [str(want).encode()]
        m.logout()


def test_quire_deliver_over_quota(server):
    start(server, "[quota]\nmessages = 1\n")
    msg = make_message(1).replace(b"\r\n", b"\n")
    args = [QUIRE, "-c", server.conf, "deliver", "-u", "alice"]
    r = subprocess.run(args, input=msg, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # Through the running daemon, then with it stopped: EX_CANTCREAT,
    # which Postfix bounces, and nothing stored.
    r = subprocess.run(args, input=msg, capture_output=True, timeout=30)
    assert r.returncode == 73, r.stderr
    assert b"mailbox full" in r.stderr
    server.stop()
    r = subprocess.run(args, input=msg, capture_output=True, timeout=30)
    assert r.returncode == 73, r.stderr
    server.start(wait=("imap", "lmtp"))
    m = connect(server)
    assert m.select("INBOX")[1] == [b"1"]
    m.logout()


def test_passwd_file_override(server):
    start(server, "[quota]\nstorage = 1G\nmessages = 100000\n",
          {"alice": "userdb_quota_storage=500M userdb_quota_messages=5000",
           "bob": "userdb_quota_rule=*:storage=2G"})
    m = connect(server, "alice")
    assert quota_of(m) == {"STORAGE": (0, 500 * 1024),
                           "MESSAGE": (0, 5000)}
    m.logout()
    m = connect(server, "bob")
    assert quota_of(m) == {"STORAGE": (0, 2 * 1024 * 1024),
                           "MESSAGE": (0, 100000)}
    m.logout()
    # A bad field keeps the defaults (and says so in the log).
    path = os.path.join(server.data, "passwd")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("userdb_quota_rule=*:storage=2G",
                             "userdb_quota_rule=*:storage=lots"))
    m = connect(server, "bob")
    assert quota_of(m) == {"STORAGE": (0, 1024 * 1024),
                           "MESSAGE": (0, 100000)}
    m.logout()
    assert "userdb_quota_rule" in server.log()


def test_list_status_appendlimit(server):
    """RFC 7889 3.2: LIST ... RETURN (STATUS (APPENDLIMIT))."""
    start(server, "[quota]\nmessages = 5\n")
    m = connect(server)
    typ, data = m._simple_command("LIST", '""', "INBOX", "RETURN",
                                  "(STATUS (APPENDLIMIT DELETED))")
    assert typ == "OK", data
    status = m.untagged_responses.pop("STATUS")
    assert status == [b'"INBOX" (DELETED 0 APPENDLIMIT %d)' % APPENDLIMIT]
    m.logout()
