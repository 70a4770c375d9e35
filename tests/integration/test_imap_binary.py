"""Messages with NUL bytes (RFC 9051 4.3, BINARY RFC 3516): a plain {n}
literal never carries a NUL. APPEND (literal8 or not) stores parts with
NULs base64-encoded, so BODY[...] is clean and BINARY[...] gives the
original bytes back; a message that reached the store with NULs anyway
(LMTP) has them sent as 0x80 in BODY[...]."""

import base64
import re
import socket

import pytest

from helpers import LMTP

PW = "binary-pw-1"

ATTACH = bytes(range(256)) * 3 + b"\0\0end"
TEXT = b"Hello, this is the text part.\r\n"
MSG = (b"From: a@example.org\r\n"
       b"Subject: binary\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
       b"\r\n"
       b"--XX\r\n"
       b"Content-Type: application/octet-stream\r\n"
       b"Content-Transfer-Encoding: binary\r\n"
       b"\r\n" + ATTACH + b"\r\n"
       b"--XX\r\n"
       b"Content-Type: text/plain\r\n"
       b"\r\n" + TEXT +
       b"--XX--\r\n")


@pytest.fixture
def imap_server(server):
    server.add_user("alice", PW)
    server.start(wait=("imap", "lmtp"))
    return server


class Raw:
    def __init__(self, server):
        self.s = socket.create_connection(
            ("127.0.0.1", server.ports["imap"]), timeout=10)
        self.f = self.s.makefile("rb")
        self.n = 0
        assert self.f.readline().startswith(b"* OK")
        self.ok("LOGIN alice " + PW)

    def tag(self):
        self.n += 1
        return b"t%d" % self.n

    def read_until(self, tag):
        lines = []
        while True:
            line = self.f.readline()
            assert line, "connection closed; so far %r" % lines
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            while m:
                line += self.f.read(int(m.group(1)))
                more = self.f.readline()
                line += more
                m = re.search(rb"\{(\d+)\+?\}\r\n$", more)
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def ok(self, text):
        tag = self.tag()
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = self.read_until(tag)
        assert lines[-1].startswith(tag + b" OK"), lines
        return lines

    def append(self, msg, literal8=True, options=b""):
        """A synchronising literal, as a client without LITERAL+."""
        tag = self.tag()
        self.s.sendall(tag + b" APPEND INBOX " + options +
                       (b"~" if literal8 else b"") +
                       b"{%d}\r\n" % len(msg))
        assert self.f.readline().startswith(b"+"), "no continuation"
        self.s.sendall(msg + b"\r\n")
        lines = self.read_until(tag)
        assert lines[-1].startswith(tag + b" OK"), lines
        return lines

    def fetch(self, item, seq=1):
        """(literal marker, literal bytes) of item in a FETCH reply."""
        lines = self.ok("FETCH %d (%s)" % (seq, item))
        text = b"".join(lines[:-1])
        # a partial's reply names only its origin: BODY[]<0>
        name = re.sub(r"<(\d+)\.\d+>", r"<\1>",
                      item.replace(".PEEK", "")).encode()
        i = text.index(name + b" ")
        m = re.match(rb"(~?)\{(\d+)\}\r\n", text[i + len(name) + 1:])
        assert m, text
        start = i + len(name) + 1 + m.end()
        return m.group(1), text[start:start + int(m.group(2))]

    def close(self):
        self.s.close()


def unb64(data):
    return base64.b64decode(re.sub(rb"\s", b"", data), validate=True)


def test_literal8_append_stores_base64(imap_server):
    c = Raw(imap_server)
    c.append(MSG)
    c.ok("SELECT INBOX")

    # BODY[1]: a plain literal, base64 of the original bytes, no NUL
    mark, body = c.fetch("BODY.PEEK[1]")
    assert mark == b"" and b"\0" not in body
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert unb64(body) == ATTACH
    mark, mime = c.fetch("BODY.PEEK[1.MIME]")
    assert b"Content-Transfer-Encoding: base64\r\n" in mime, mime
    assert b"binary" not in mime.lower(), mime

    # BINARY[1]: the client's bytes again, as a literal8
    mark, data = c.fetch("BINARY.PEEK[1]")
    assert mark == b"~" and data == ATTACH
    lines = c.ok("FETCH 1 (BINARY.SIZE[1])")
    assert b"BINARY.SIZE[1] %d" % len(ATTACH) in lines[0], lines

    # the whole message and the untouched text part
    mark, whole = c.fetch("BODY.PEEK[]")
    assert mark == b"" and b"\0" not in whole
    lines = c.ok("FETCH 1 (RFC822.SIZE BODYSTRUCTURE)")
    assert b"RFC822.SIZE %d " % len(whole) in lines[0], lines
    assert b'"BASE64"' in lines[0].upper(), lines
    # (the CRLF before a boundary belongs to the boundary)
    assert c.fetch("BODY.PEEK[2]") == (b"", TEXT[:-2])
    mark, data = c.fetch("BINARY.PEEK[2]")
    assert data == TEXT[:-2]
    c.close()


def test_literal8_append_keeps_flags_and_date(imap_server):
    c = Raw(imap_server)
    c.append(MSG, options=b'(\\Flagged $Work) "01-Feb-2026 10:00:00 +0000" ')
    c.ok("SELECT INBOX")
    lines = c.ok("FETCH 1 (FLAGS INTERNALDATE)")
    assert b"\\Flagged" in lines[0] and b"$Work" in lines[0], lines
    assert b'"01-Feb-2026 10:00:00 +0000"' in lines[0], lines
    mark, body = c.fetch("BODY.PEEK[1]")
    assert unb64(body) == ATTACH
    c.close()


def test_single_part_plain_literal_with_nul(imap_server):
    msg = (b"From: a@example.org\r\nSubject: one part\r\n\r\n"
           b"line\0one\r\nline two\r\n")
    c = Raw(imap_server)
    c.append(msg, literal8=False)
    c.ok("SELECT INBOX")
    mark, whole = c.fetch("BODY.PEEK[]")
    assert mark == b"" and b"\0" not in whole
    assert b"Content-Transfer-Encoding: base64\r\n" in whole
    mark, data = c.fetch("BINARY.PEEK[1]")
    assert mark == b"~"
    assert data == b"line\0one\r\nline two\r\n"
    c.close()


def test_clean_message_is_stored_unchanged(imap_server):
    msg = (b"From: a@example.org\r\nSubject: plain\r\n\r\nhello\r\n")
    c = Raw(imap_server)
    c.append(msg)
    c.ok("SELECT INBOX")
    assert c.fetch("BODY.PEEK[]") == (b"", msg)
    c.close()


def test_lmtp_message_with_nul_is_masked(imap_server):
    msg = (b"From: a@example.org\r\nSubject: lmtp nul\r\n\r\n"
           b"before\0after\r\n")
    lm = LMTP(port=imap_server.ports["lmtp"])
    lm.cmd("LHLO test")
    assert lm.deliver("s@example.org", ["alice"], msg) == [250]
    lm.close()
    c = Raw(imap_server)
    c.ok("SELECT INBOX")
    for item in ("BODY.PEEK[]", "BODY.PEEK[TEXT]", "BODY.PEEK[1]",
                 "RFC822.TEXT", "BODY.PEEK[]<0.100000>"):
        mark, data = c.fetch(item)
        assert mark == b"" and b"\0" not in data, (item, data)
        if item != "BODY.PEEK[]" and not item.startswith("BODY.PEEK[]<"):
            assert data == b"before\x80after\r\n", (item, data)
    assert c.fetch("BODY.PEEK[TEXT]<6.3>") == (b"", b"\x80af")
    mark, whole = c.fetch("BODY.PEEK[]")
    assert whole.endswith(b"before\x80after\r\n")
    # BINARY still gives the stored bytes, in a literal8
    mark, data = c.fetch("BINARY.PEEK[1]")
    assert mark == b"~" and data == b"before\0after\r\n"
    mark, data = c.fetch("BINARY.PEEK[]")
    assert mark == b"~" and data.endswith(b"before\0after\r\n")
    c.close()
