"""COMPRESS=DEFLATE (RFC 4978) over real sockets: a client that wraps
the raw socket in Python's own zlib (raw DEFLATE, wbits -15) after the
tagged OK, plain and over TLS."""

import base64
import os
import re
import socket
import ssl
import time
import zlib

from helpers import make_message, tls_context
from test_imap import PW, deliver, imap_server  # noqa: F401

LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class ZClient:
    """A line-based IMAP client that can switch to DEFLATE both ways."""

    def __init__(self, server, port="imap", tls=False):
        s = socket.create_connection(("127.0.0.1", server.ports[port]),
                                     timeout=10)
        if tls:
            s = tls_context().wrap_socket(s)
        self.s = s
        self.raw = b""   # bytes received, not yet decompressed
        self.buf = b""   # plaintext received, not yet read
        self.c = self.d = None
        self.n = 0
        self.wire_in = 0
        assert self.readline().startswith(b"* OK")

    def compress_on(self):
        self.c = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.d = zlib.decompressobj(-15)
        # Anything after the OK's CRLF is compressed already.
        rest, self.buf = self.buf, b""
        self.buf = self.d.decompress(rest)

    def send(self, data):
        if self.c is not None:
            data = self.c.compress(data) + self.c.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.wire_in += len(chunk)
        self.buf += self.d.decompress(chunk) if self.d else chunk

    def readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        """One response line with its literals inlined."""
        line = self.readline()
        while True:
            m = LITERAL.search(line)
            if not m:
                return line
            line += self.read(int(m.group(1)))
            line += self.readline()

    def cmd(self, line):
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + line.encode() + b"\r\n")
        out = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                return r, out
            out.append(r)

    def login(self, user="alice"):
        tagged, _ = self.cmd("LOGIN %s %s" % (user, PW))
        assert b" OK " in tagged, tagged

    def compress(self):
        tagged, out = self.cmd("COMPRESS DEFLATE")
        assert b" OK " in tagged, tagged
        self.compress_on()


def status(tagged):
    return tagged.split(b" ")[1]


def big_message(size):
    """A message of about size bytes: base64 of random data (as an
    attachment would be) and repeated text."""
    lines = []
    total = 0
    i = 0
    while total < size:
        if i % 2:
            ln = base64.b64encode(os.urandom(57))
        else:
            ln = b"line %d of a long text that repeats itself a lot" % i
        lines.append(ln)
        total += len(ln) + 2
        i += 1
    return make_message(1, body_lines=lines, subject="big")


def test_capability_and_list(imap_server):
    c = ZClient(imap_server)
    _, out = c.cmd("CAPABILITY")
    assert b"COMPRESS=DEFLATE" not in out[0]
    c.login()
    _, out = c.cmd("CAPABILITY")
    assert b" COMPRESS=DEFLATE" in out[0]
    c.compress()
    tagged, out = c.cmd("LIST \"\" *")
    assert status(tagged) == b"OK"
    names = b"".join(out)
    assert b"INBOX" in names and b"Sent" in names
    tagged, out = c.cmd("NOOP")
    assert status(tagged) == b"OK"
    tagged, out = c.cmd("LOGOUT")
    assert out == [b"* BYE Logging out\r\n"]
    assert status(tagged) == b"OK"


def test_errors(imap_server):
    c = ZClient(imap_server)
    # Before login: not available.
    tagged, _ = c.cmd("COMPRESS DEFLATE")
    assert status(tagged) == b"BAD"
    c.login()
    tagged, _ = c.cmd("COMPRESS FOO")
    assert status(tagged) == b"BAD"
    tagged, _ = c.cmd("COMPRESS")
    assert status(tagged) == b"BAD"
    tagged, _ = c.cmd("COMPRESS DEFLATE DEFLATE")
    assert status(tagged) == b"BAD"
    # Still plain after the errors.
    tagged, _ = c.cmd("NOOP")
    assert tagged.endswith(b" OK NOOP completed.\r\n")
    c.compress()
    tagged, _ = c.cmd("COMPRESS DEFLATE")
    assert status(tagged) == b"NO" and b"[COMPRESSIONACTIVE]" in tagged
    tagged, _ = c.cmd("NOOP")
    assert status(tagged) == b"OK"
    # Back to not authenticated, still compressed: STARTTLS is refused
    # (TLS would have to go below the compression).
    tagged, _ = c.cmd("UNAUTHENTICATE")
    assert status(tagged) == b"OK"
    _, out = c.cmd("CAPABILITY")
    assert b"STARTTLS" not in out[0]
    tagged, _ = c.cmd("STARTTLS")
    assert status(tagged) == b"BAD"
    c.login("bob")
    tagged, _ = c.cmd("COMPRESS DEFLATE")
    assert status(tagged) == b"NO" and b"[COMPRESSIONACTIVE]" in tagged


def test_corrupt_input_closes(imap_server):
    c = ZClient(imap_server)
    c.login()
    c.compress()
    # Not a DEFLATE stream (block type 3 is reserved).
    c.s.sendall(b"\xff\xff\xff\xff garbage")
    try:
        while True:
            c._fill()
    except EOFError:
        pass
    except (ConnectionResetError, zlib.error):
        pass
    deadline = time.time() + 5
    while "compressed input" not in imap_server.log():
        assert time.time() < deadline, imap_server.log()
        time.sleep(0.05)


def test_fetch_1mb_identical(imap_server):
    msg = big_message(1024 * 1024)
    deliver(imap_server, "alice", msg)
    plain = ZClient(imap_server)
    plain.login()
    plain.cmd("SELECT INBOX")
    tagged, out = plain.cmd("FETCH 1 BODY.PEEK[]")
    assert status(tagged) == b"OK"
    expect = out[0]
    assert len(expect) > 1024 * 1024 and msg.rstrip(b"\r\n") in expect

    c = ZClient(imap_server)
    c.login()
    c.compress()
    c.cmd("SELECT INBOX")
    wire_before = c.wire_in
    tagged, out = c.cmd("FETCH 1 BODY.PEEK[]")
    assert status(tagged) == b"OK"
    assert out[0] == expect
    # The text half compresses; the random half does not.
    assert c.wire_in - wire_before < len(expect) * 0.9
    # Twice, and then a small command: the stream stays in step.
    tagged, out = c.cmd("FETCH 1 BODY.PEEK[]")
    assert out[0] == expect
    tagged, out = c.cmd("FETCH 1 (UID RFC822.SIZE)")
    assert status(tagged) == b"OK" and b"UID 1" in out[0]


def test_append_sync_literal(imap_server):
    c = ZClient(imap_server)
    c.login()
    c.compress()
    msg = make_message(7, subject="appended while compressed")
    c.n += 1
    tag = b"t%d" % c.n
    c.send(tag + b" APPEND INBOX (\\Flagged) {%d}\r\n" % len(msg))
    cont = c.readline()
    assert cont.startswith(b"+ "), cont
    c.send(msg + b"\r\n")
    tagged = c.readline()
    assert tagged.startswith(tag + b" OK"), tagged
    # A second one with a non-synchronising literal.
    tagged, _ = c.cmd("APPEND INBOX {%d+}\r\n%s" %
                      (len(msg), msg.decode()))
    assert b" OK " in tagged
    c.cmd("SELECT INBOX")
    tagged, out = c.cmd("FETCH 1:2 (FLAGS BODY.PEEK[])")
    assert len(out) == 2
    assert b"\\Flagged" in out[0]
    assert msg in out[0] and msg in out[1]


def test_idle_push_while_compressed(imap_server):
    deliver(imap_server, "alice", make_message(1))
    c = ZClient(imap_server)
    c.login()
    c.compress()
    c.cmd("SELECT INBOX")
    c.n += 1
    tag = b"t%d" % c.n
    c.send(tag + b" IDLE\r\n")
    assert c.readline().startswith(b"+ ")
    # Another session changes a flag; a delivery adds a message.
    other = ZClient(imap_server)
    other.login()
    other.cmd("SELECT INBOX")
    other.cmd("STORE 1 +FLAGS (\\Flagged)")
    c.s.settimeout(5)
    line = c.readline()
    assert line.startswith(b"* 1 FETCH (") and b"\\Flagged" in line
    deliver(imap_server, "alice", make_message(2))
    assert c.readline() == b"* 2 EXISTS\r\n"
    c.send(b"DONE\r\n")
    line = c.readline()
    while not line.startswith(tag):
        line = c.readline()
    assert line.startswith(tag + b" OK")
    # The deflater is freed while idling and made anew: the stream
    # goes on, for replies and for a second IDLE with its push.
    tagged, out = c.cmd("FETCH 2 BODY.PEEK[]")
    assert make_message(2).rstrip(b"\r\n") in out[0]
    other.cmd("NOOP")  # learns of message 2
    for round in range(3):
        c.n += 1
        tag = b"t%d" % c.n
        c.send(tag + b" IDLE\r\n")
        assert c.readline().startswith(b"+ ")
        tagged, _ = other.cmd("STORE 2 %sFLAGS (\\Seen)" %
                              "+-"[round % 2])
        assert status(tagged) == b"OK"
        line = c.readline()
        assert line.startswith(b"* 2 FETCH (")
        c.send(b"DONE\r\n")
        assert c.readline().startswith(tag + b" OK")
    tagged, _ = c.cmd("LOGOUT")
    assert b" OK " in tagged


def test_compress_over_tls(imap_server):
    deliver(imap_server, "alice", make_message(3))
    c = ZClient(imap_server, port="imaps", tls=True)
    c.login()
    c.compress()
    tagged, out = c.cmd("LIST \"\" *")
    assert status(tagged) == b"OK" and b"INBOX" in b"".join(out)
    c.cmd("SELECT INBOX")
    tagged, out = c.cmd("FETCH 1 BODY.PEEK[]")
    assert make_message(3).rstrip(b"\r\n") in out[0]
    tagged, _ = c.cmd("COMPRESS DEFLATE")
    assert b"NO [COMPRESSIONACTIVE]" in tagged


def test_starttls_then_compress(imap_server):
    c = ZClient(imap_server)
    tagged, _ = c.cmd("STARTTLS")
    assert b" OK " in tagged
    c.s = tls_context().wrap_socket(c.s)
    c.login()
    c.compress()
    tagged, out = c.cmd("STATUS INBOX (MESSAGES)")
    assert status(tagged) == b"OK" and out[0].startswith(b"* STATUS")


def test_pipelined_commands_in_one_packet(imap_server):
    c = ZClient(imap_server)
    c.login()
    c.compress()
    data = b"".join(b"p%d NOOP\r\n" % i for i in range(200))
    c.send(data)
    for i in range(200):
        assert c.readline() == b"p%d OK NOOP completed.\r\n" % i
    assert isinstance(c.s, (socket.socket, ssl.SSLSocket))


def test_small_input_inflating_large(imap_server):
    """A few KiB on the wire that inflate to far more than the input
    buffer holds: many pipelined commands, and a 1 MB literal of
    repeated text; both must come through whole, with no stall."""
    c = ZClient(imap_server)
    c.login()
    c.compress()
    n = 5000
    c.send(b"".join(b"p%d NOOP\r\n" % i for i in range(n)))
    for i in range(n):
        assert c.readline() == b"p%d OK NOOP completed.\r\n" % i
    body = [b"the same line again and again, %d" % (i % 10)
            for i in range(32000)]
    msg = make_message(5, body_lines=body, subject="repetitive")
    assert len(msg) > 1024 * 1024
    c.n += 1
    tag = b"t%d" % c.n
    c.send(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n"
           + b"t99 NOOP\r\n")
    tagged = c.readline()
    assert tagged.startswith(tag + b" OK"), tagged
    assert c.readline().startswith(b"t99 OK")
    c.cmd("SELECT INBOX")
    tagged, out = c.cmd("FETCH 1 BODY.PEEK[]")
    assert out[0] == b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg) + msg + \
        b")\r\n"
