"""SEARCH and UID SEARCH over real sockets with Python's imaplib (and a raw
socket where imaplib hides the reply): IMAP4rev1 SEARCH, ESEARCH return
options, SAVE and "$", CHARSET, RFC 2047 headers, encoded bodies in other
charsets, case folding, dates, and a large message searched by header
only."""

import imaplib
import socket

import pytest

PW = "search-pw-1"


def imap_answers(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return False
    try:
        s.settimeout(5)
        return s.recv(5).startswith(b"* OK")
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture
def imap_server(server):
    try:
        server.add_user("alice", PW)
        server.start(wait=("imap",))
    except AssertionError as e:
        pytest.skip("quired/quire in this build cannot run an IMAP "
                    "server yet "
                    "(the daemon's IMAP wiring is not merged): %s"
                    % str(e).splitlines()[0])
    if not imap_answers(server.ports["imap"]):
        pytest.skip("the IMAP port does not answer with a greeting")
    return server


def connect(server):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    m.login("alice", PW)
    return m


MESSAGES = [
    # 1: \Seen, plain ASCII, a Date west of UTC
    (r"(\Seen)", "01-Feb-2026 12:00:00 +0000",
     b"From: Alice <alice@example.org>\r\n"
     b"To: Bob <bob@example.org>\r\n"
     b"Subject: Hello world\r\n"
     b"Date: Sun, 1 Feb 2026 23:30:00 -0800\r\n"
     b"\r\n"
     b"The quick brown fox\r\n"),
    # 2: keyword, RFC 2047 subject, base64 UTF-8 body
    (r"($work)", "02-Feb-2026 12:00:00 +0000",
     b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\n"
     b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
     b"Date: Mon, 2 Feb 2026 08:00:00 +0100\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: base64\r\n"
     b"\r\n"
     b"V2lyIHdvaG5lbiBpbiBkZXIgSGF1cHRzdHJhw59lIDUuCg==\r\n"),
    # 3: flagged + deleted, ISO-8859-1 quoted-printable body
    (r"(\Flagged \Deleted)", "01-Mar-2026 12:00:00 +0000",
     b"From: pierre@example.fr\r\n"
     b"Subject: =?ISO-8859-1?Q?Re=3A_caf=E9?=\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=iso-8859-1\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n"
     b"\r\n"
     b"Un caf=E9 cr=E8me, s'il vous pla=EEt.\r\n"),
    # 4: multipart with HTML and an attachment
    ("()", "20-Feb-2026 12:00:00 +0000",
     b"From: carol@example.net\r\n"
     b"Cc: Carol <carol@example.net>\r\n"
     b"Subject: report\r\n"
     b"X-Custom: Foo Bar\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
     b"\r\n"
     b"--b1\r\n"
     b"Content-Type: text/html; charset=us-ascii\r\n"
     b"\r\n"
     b"<p>Hello <b>HTML</b> world</p>\r\n"
     b"--b1\r\n"
     b"Content-Type: application/octet-stream\r\n"
     b"Content-Transfer-Encoding: base64\r\n"
     b"\r\n"
     b"c2VjcmV0IHBheWxvYWQ=\r\n"
     b"--b1--\r\n"),
]


@pytest.fixture
def mailbox(imap_server):
    m = connect(imap_server)
    for flags, date, msg in MESSAGES:
        typ, data = m.append("INBOX", flags, '"%s"' % date, msg)
        assert typ == "OK", data
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"4"]
    yield m
    try:
        m.logout()
    except Exception:
        pass


def search(m, *keys, charset=None):
    typ, data = m.search(charset, *keys)
    assert typ == "OK", data
    return data[0].decode().split()


@pytest.mark.parametrize("keys,want", [
    (("ALL",), "1 2 3 4"),
    (("SEEN",), "1"),
    (("UNSEEN", "UNDELETED"), "2 4"),
    (("FLAGGED",), "3"),
    (("KEYWORD", "$work"), "2"),
    (("UNKEYWORD", "$work"), "1 3 4"),
    (("SUBJECT", "hello"), "1"),
    (("SUBJECT", "caf\u00e9".encode()), "3"),
    (("FROM", "alice"), "1"),
    (("FROM", "J\u00fcrgen".encode()), "2"),
    (("TO", "bob"), "1"),
    (("CC", "carol"), "4"),
    (("HEADER", "X-Custom", '"foo b"'), "4"),
    (("BODY", "quick"), "1"),
    # i;unicode-casemap (RFC 5051): sharp s has no simple titlecase, so
    # it never equals "SS"
    (("BODY", "HAUPTSTRASSE"), ""),
    (("BODY", "HAUPTSTRA\u00dfE".encode()), "2"),
    (("BODY", "Hauptstra\u00dfe".encode()), "2"),
    (("BODY", "cr\u00e8me".encode()), "3"),
    (("BODY", '"html world"'), "4"),
    (("BODY", "secret"), ""),
    (("TEXT", "alice"), "1"),
    (("ON", "2-Feb-2026"), "2"),
    (("SINCE", "2-Feb-2026", "BEFORE", "1-Mar-2026"), "2 4"),
    (("SENTON", "1-Feb-2026"), "1"),
    (("SENTSINCE", "2-Feb-2026"), "2"),
    (("LARGER", "250"), "2 4"),
    (("SMALLER", "200"), "1"),
    (("OR", "SEEN", "FLAGGED"), "1 3"),
    (("NOT", "(OR", "SEEN", "FLAGGED)"), "2 4"),
    (("OR", "(SEEN", "SUBJECT", "hello)", "(DRAFT", "BODY", "x)"), "1"),
    (("2:*",), "2 3 4"),
    (("NOT", "1:2"), "3 4"),
])
def test_search_keys(mailbox, keys, want):
    if any(isinstance(k, bytes) and max(k) > 127 for k in keys):
        # imaplib sends 8-bit text as a literal with CHARSET UTF-8.
        args = []
        for k in keys:
            if isinstance(k, bytes) and max(k) > 127:
                mailbox.literal = k
            else:
                args.append(k)
        got = search(mailbox, *args, charset="UTF-8")
    else:
        got = search(mailbox, *keys)
    assert got == want.split()


def test_uid_search(mailbox):
    typ, data = mailbox.uid("SEARCH", None, "UID", "2:*", "NOT", "SEEN")
    assert typ == "OK"
    assert data[0].split() == [b"2", b"3", b"4"]
    typ, data = mailbox.uid("SEARCH", None, "SUBJECT", "report")
    assert data[0] == b"4"


def test_search_errors(mailbox):
    typ, data = mailbox.search("KOI8-R", "ALL")
    assert typ == "NO"
    assert data[0].startswith(b"[BADCHARSET (UTF-8 US-ASCII)]")
    with pytest.raises(imaplib.IMAP4.error, match="Unknown search key"):
        mailbox.search(None, "FOO")
    with pytest.raises(imaplib.IMAP4.error, match="Invalid search date"):
        mailbox.search(None, "BEFORE", "30-Feb-2026")
    # the session goes on
    assert search(mailbox, "SEEN") == ["1"]


class Raw:
    def __init__(self, server):
        self.s = socket.create_connection(("127.0.0.1",
                                           server.ports["imap"]),
                                          timeout=30)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        self.n = 0

    def cmd(self, line):
        self.n += 1
        tag = "r%d" % self.n
        self.s.sendall(("%s %s\r\n" % (tag, line)).encode())
        out = []
        while True:
            ln = self.f.readline()
            assert ln, "connection closed"
            if ln.startswith(tag.encode() + b" "):
                return tag, ln.rstrip(b"\r\n").decode(), out
            if b" EXISTS" in ln or b" FETCH " in ln:
                continue
            out.append(ln.rstrip(b"\r\n").decode())

    def close(self):
        self.s.close()


def test_esearch_and_searchres(mailbox, imap_server):
    r = Raw(imap_server)
    assert "OK" in r.cmd("LOGIN alice %s" % PW)[1]
    assert "OK" in r.cmd("SELECT INBOX")[1]
    tag, ok, out = r.cmd("SEARCH RETURN (MIN MAX COUNT ALL) NOT 3")
    assert out == ['* ESEARCH (TAG "%s") MIN 1 MAX 4 ALL 1:2,4 COUNT 3'
                   % tag]
    tag, ok, out = r.cmd("UID SEARCH RETURN () ALL")
    assert out == ['* ESEARCH (TAG "%s") UID ALL 1:4' % tag]
    tag, ok, out = r.cmd("SEARCH RETURN (COUNT) SUBJECT nosuch")
    assert out == ['* ESEARCH (TAG "%s") COUNT 0' % tag]
    # SAVE alone: no ESEARCH reply; "$" then works in SEARCH.
    tag, ok, out = r.cmd("SEARCH RETURN (SAVE) UNSEEN")
    assert out == [] and ok.startswith(tag + " OK")
    assert r.cmd("SEARCH $")[2] == ["* SEARCH 2 3 4"]
    assert r.cmd("UID SEARCH UID $ LARGER 250")[2] == ["* SEARCH 2 4"]
    # SAVE with MIN MAX keeps only those two.
    tag, ok, out = r.cmd("SEARCH RETURN (SAVE MIN MAX) $")
    assert out == ['* ESEARCH (TAG "%s") MIN 2 MAX 4' % tag]
    assert r.cmd("SEARCH $")[2] == ["* SEARCH 2 4"]
    # Selecting another mailbox empties it (RFC 5182 2.1).
    assert "OK" in r.cmd("CREATE Other")[1]
    assert "OK" in r.cmd("SELECT Other")[1]
    assert r.cmd("SEARCH $")[2] == ["* SEARCH"]
    assert "OK" in r.cmd("SELECT INBOX")[1]
    assert r.cmd("SEARCH $")[2] == ["* SEARCH"]
    # MODSEQ reports the highest modseq of the matches; as the first
    # CONDSTORE-enabling command it also gets OK [HIGHESTMODSEQ].
    out = r.cmd("SEARCH MODSEQ 1 SEEN")[2]
    assert len(out) == 2 and out[0].startswith("* OK [HIGHESTMODSEQ ")
    assert out[1].startswith("* SEARCH 1 (MODSEQ ")
    # IMAP4rev2: ESEARCH without RETURN.
    assert "OK" in r.cmd("ENABLE IMAP4rev2")[1]
    tag, ok, out = r.cmd("SEARCH SEEN")
    assert out == ['* ESEARCH (TAG "%s") ALL 1' % tag]
    r.cmd("LOGOUT")
    r.close()


def test_searchres_reset_on_reselect(mailbox, imap_server):
    r = Raw(imap_server)
    assert "OK" in r.cmd("LOGIN alice %s" % PW)[1]
    assert "OK" in r.cmd("SELECT INBOX")[1]
    assert r.cmd("SEARCH RETURN (SAVE) SEEN")[2] == []
    assert r.cmd("SEARCH $")[2] == ["* SEARCH 1"]
    assert "OK" in r.cmd("SELECT INBOX")[1]
    assert r.cmd("SEARCH $")[2] == ["* SEARCH"]
    r.close()


def test_saved_result_in_other_commands(mailbox):
    typ, data = mailbox._simple_command("SEARCH", "RETURN", "(SAVE)",
                                        "UNSEEN", "NOT", "DELETED")
    assert typ == "OK", data
    typ, data = mailbox.fetch("$", "(UID)")
    assert typ == "OK"
    assert sorted(data) == [b"2 (UID 2)", b"4 (UID 4)"]
    typ, data = mailbox.uid("STORE", "$", "+FLAGS", r"(\Answered)")
    assert typ == "OK"
    assert search(mailbox, "ANSWERED") == ["2", "4"]


def test_large_message_header_search(imap_server):
    m = connect(imap_server)
    body = b"".join(b"line %07d of a long body, nothing to see\r\n" % i
                    for i in range(60000))
    msg = (b"Subject: big attachment\r\nFrom: x@example.org\r\n\r\n" + body +
           b"needle at the very end\r\n")
    typ, data = m.append("INBOX", None, None, msg)
    assert typ == "OK", data
    m.select("INBOX")
    assert search(m, "SUBJECT", "big") == ["1"]
    assert search(m, "BODY", '"needle at the very end"') == ["1"]
    assert search(m, "NOT", "BODY", '"nothing to see"') == []
    m.logout()
