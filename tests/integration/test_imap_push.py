"""Two sessions of one user: what one changes (flags, expunge) and new
deliveries show in the other, after NOOP and at once in IDLE."""

import socket
import time

from helpers import make_message
from test_imap import PW, connect, deliver, imap_server  # noqa: F401


class Raw:
    def __init__(self, server):
        self.s = socket.create_connection(("127.0.0.1",
                                           server.ports["imap"]),
                                          timeout=10)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        self.n = 0

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def cmd(self, line):
        self.n += 1
        tag = "t%d" % self.n
        self.send("%s %s" % (tag, line))
        out = []
        while True:
            ln = self.f.readline()
            assert ln, "connection closed"
            if ln.startswith(tag.encode() + b" "):
                return ln, out
            out.append(ln)

    def readline(self):
        return self.f.readline()


def test_noop_sees_changes(imap_server):
    for i in range(3):
        deliver(imap_server, "alice", make_message(i))
    a = Raw(imap_server)
    b = Raw(imap_server)
    for c in (a, b):
        assert c.cmd("LOGIN alice %s" % PW)[0].startswith(b"t1 OK")
        tagged, out = c.cmd("SELECT INBOX")
        assert b"* 3 EXISTS\r\n" in out
    tagged, out = a.cmd("STORE 2 +FLAGS (\\Flagged)")
    assert tagged.startswith(b"t3 OK")
    tagged, out = b.cmd("NOOP")
    assert out == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n"]
    # A keyword new to b is announced with FLAGS first.
    a.cmd("STORE 3 +FLAGS ($Fresh)")
    tagged, out = b.cmd("NOOP")
    assert out[0].startswith(b"* FLAGS (") and b"$Fresh)" in out[0]
    assert out[1].startswith(b"* OK [PERMANENTFLAGS (")
    assert out[2:] == [b"* 3 FETCH (UID 3 FLAGS ($Fresh))\r\n"]
    a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    tagged, out = a.cmd("EXPUNGE")
    assert out == [b"* 1 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    # FETCH by sequence number may not report the expunge ...
    tagged, out = b.cmd("FETCH 1 (UID)")
    assert out == [b"* 1 FETCH (UID 1)\r\n"]
    # ... NOOP does.
    tagged, out = b.cmd("NOOP")
    assert out == [b"* 1 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    deliver(imap_server, "alice", make_message(9))
    tagged, out = b.cmd("NOOP")
    assert b"* 3 EXISTS\r\n" in out
    tagged, out = b.cmd("FETCH 3 (UID)")
    assert out == [b"* 3 FETCH (UID 4)\r\n"]


def test_idle_push(imap_server):
    deliver(imap_server, "alice", make_message(1))
    a = Raw(imap_server)
    b = Raw(imap_server)
    for c in (a, b):
        c.cmd("LOGIN alice %s" % PW)
        c.cmd("SELECT INBOX")
    b.send("i1 IDLE")
    assert b.readline() == b"+ idling\r\n"
    t0 = time.time()
    deliver(imap_server, "alice", make_message(2))
    assert b.readline() == b"* 2 EXISTS\r\n"
    a.cmd("STORE 1 +FLAGS (\\Seen)")
    assert b.readline() == b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
    a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.cmd("EXPUNGE")
    lines = [b.readline(), b.readline(), b.readline()]
    assert lines[0] == b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))\r\n"
    assert lines[1:] == [b"* 1 EXPUNGE\r\n", b"* 1 EXISTS\r\n"]
    assert time.time() - t0 < 5
    b.send("DONE")
    assert b.readline() == b"i1 OK IDLE terminated.\r\n"
    tagged, out = b.cmd("FETCH 1:* (UID FLAGS)")
    assert out == [b"* 1 FETCH (UID 2 FLAGS ())\r\n"]


def test_pipelined_after_big_fetch(imap_server):
    body = [b"%07d " % i + b"y" * 90 for i in range(30000)]
    msg = make_message(3, body_lines=body)
    deliver(imap_server, "alice", msg)
    deliver(imap_server, "alice", msg)
    a = Raw(imap_server)
    a.cmd("LOGIN alice %s" % PW)
    a.cmd("SELECT INBOX")
    # Everything in one write: the replies come back in order, the
    # literals whole.
    a.s.sendall(b"p1 FETCH 1:2 (BODY.PEEK[])\r\np2 NOOP\r\n"
                b"p3 UID FETCH 2 (RFC822.SIZE)\r\np4 LOGOUT\r\n")
    for seq in (1, 2):
        line = a.readline()
        assert line.startswith(b"* %d FETCH (BODY[] {" % seq), line
        n = int(line[line.index(b"{") + 1:line.index(b"}")])
        data = a.f.read(n)
        assert data.endswith(msg)
        assert a.readline() == b")\r\n"
    assert a.readline() == b"p1 OK FETCH completed.\r\n"
    assert a.readline() == b"p2 OK NOOP completed.\r\n"
    assert a.readline().startswith(b"* 2 FETCH (UID 2 RFC822.SIZE ")
    assert a.readline().startswith(b"p3 OK")
    assert a.readline().startswith(b"* BYE")
    assert a.readline().startswith(b"p4 OK")
    assert a.readline() == b""
