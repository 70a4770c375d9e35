"""Two sessions of one user: what one changes (flags, expunge) and new
deliveries show in the other, after NOOP and at once in IDLE."""

import glob
import os
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


def claim_recent(server):
    """A session that SELECTs INBOX and leaves, so the messages delivered
    so far are no longer \\Recent for the sessions a test opens next."""
    c = Raw(server)
    c.cmd("LOGIN alice %s" % PW)
    c.cmd("SELECT INBOX")
    c.cmd("LOGOUT")
    c.s.close()


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
    # b is told first (a is not idle): the new message is b's \Recent.
    assert b.readline() == b"* 1 RECENT\r\n"
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
    assert out == [b"* 1 FETCH (UID 2 FLAGS (\\Recent))\r\n"]


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


def test_condstore(imap_server):
    import re
    for i in range(3):
        deliver(imap_server, "alice", make_message(i))
    claim_recent(imap_server)
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.cmd("LOGIN alice %s" % PW)
    b.cmd("LOGIN alice %s" % PW)
    tagged, out = a.cmd("SELECT INBOX (CONDSTORE)")
    hms = [x for x in out if b"HIGHESTMODSEQ" in x]
    assert hms
    b.cmd("SELECT INBOX")
    tagged, out = a.cmd("FETCH 1:* (UID MODSEQ)")
    mods = [int(re.search(rb"MODSEQ \((\d+)\)", x).group(1)) for x in out]
    assert len(mods) == 3
    base = max(mods)
    tagged, out = a.cmd("STORE 2 +FLAGS (\\Flagged)")
    assert len(out) == 1 and b"MODSEQ (" in out[0]
    new = int(re.search(rb"MODSEQ \((\d+)\)", out[0]).group(1))
    assert new > base
    # Only the changed message comes back.
    tagged, out = a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % base)
    assert len(out) == 1 and out[0].startswith(b"* 2 FETCH (FLAGS "
                                               b"(\\Flagged) MODSEQ (")
    # b changes message 2 again: a's conditional store is refused there.
    b.cmd("STORE 2 +FLAGS (\\Answered)")
    tagged, out = a.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)"
                        % new)
    assert tagged.startswith(b"t6 OK [MODIFIED 2]"), tagged
    tagged, out = a.cmd("UID FETCH 1 (FLAGS)")
    assert b"\\Seen" in out[-1]
    tagged, out = a.cmd("ENABLE CONDSTORE")
    assert out == [b"* ENABLED\r\n"]
    tagged, out = b.cmd("ENABLE CONDSTORE")
    assert out[0] == b"* ENABLED CONDSTORE\r\n"
    # b's pending update now carries MODSEQ.
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Seen\) "
                    rb"MODSEQ \(\d+\)\)", out[1]), out
    tagged, out = a.cmd("STORE 1 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)")
    assert tagged.startswith(b"t9 OK [MODIFIED 1]"), tagged


def test_qresync(imap_server):
    import re
    for i in range(3):
        deliver(imap_server, "alice", make_message(i))
    claim_recent(imap_server)
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.cmd("LOGIN alice %s" % PW)
    b.cmd("LOGIN alice %s" % PW)
    tagged, out = a.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert tagged.startswith(b"t2 BAD")
    tagged, out = a.cmd("ENABLE QRESYNC")
    assert out == [b"* ENABLED QRESYNC\r\n"]
    tagged, out = a.cmd("SELECT INBOX")
    text = b"".join(out)
    uv = int(re.search(rb"UIDVALIDITY (\d+)", text).group(1))
    base = int(re.search(rb"HIGHESTMODSEQ (\d+)", text).group(1))
    b.cmd("SELECT INBOX")
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    b.cmd("STORE 1 +FLAGS (\\Flagged)")  # was UID 2
    tagged, out = a.cmd("NOOP")
    assert out[0] == b"* VANISHED 1\r\n"
    assert re.match(rb"\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\) "
                    rb"MODSEQ \(\d+\)\)", out[1]), out
    assert out[2] == b"* 2 EXISTS\r\n"
    tagged, out = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)"
                        % base)
    assert out[0] == b"* VANISHED (EARLIER) 1\r\n"
    assert out[1].startswith(b"* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ")
    assert len(out) == 2
    tagged, out = a.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert tagged.startswith(b"t7 BAD")
    # A fresh session resynchronises from what it knew.
    c = Raw(imap_server)
    c.cmd("LOGIN alice %s" % PW)
    c.cmd("ENABLE QRESYNC")
    tagged, out = c.cmd("SELECT INBOX (QRESYNC (%d %d 1:3))" % (uv, base))
    assert tagged.startswith(b"t3 OK")
    assert b"* VANISHED (EARLIER) 1\r\n" in out
    assert any(x.startswith(b"* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ")
               for x in out)
    # A stale UIDVALIDITY gets a plain SELECT.
    tagged, out = c.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, base))
    assert not any(b"VANISHED" in x for x in out)
    assert b"* OK [CLOSED] Previous mailbox closed.\r\n" in out


def message_files(server):
    return glob.glob(os.path.join(server.data, "users", "*", "alice",
                                  "blobs", "*", "*"))


def two_selected(server, count=3):
    """Delivers count messages to alice; two sessions with INBOX
    selected."""
    for i in range(count):
        deliver(server, "alice", make_message(i))
    a = Raw(server)
    b = Raw(server)
    for c in (a, b):
        c.cmd("LOGIN alice %s" % PW)
        c.cmd("SELECT INBOX")
    return a, b


def test_fetch_of_message_expunged_elsewhere(imap_server):
    """RFC 2180 4.1.1: until b is told of a's expunge, b may still FETCH
    the message by its old number, body and all; its file goes once
    every session has been told."""
    a, b = two_selected(imap_server)
    assert len(message_files(imap_server)) == 3
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    tagged, out = a.cmd("EXPUNGE")
    assert out == [b"* 2 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    # Longer than the daemon takes to unlink a removed message's file.
    time.sleep(2)
    tagged, out = b.cmd("FETCH 2 (UID ENVELOPE BODY.PEEK[])")
    assert tagged.startswith(b"t3 OK"), (tagged, out)
    assert out[0].startswith(b"* 2 FETCH (UID 2 ENVELOPE ("), out
    assert b"test message 1" in out[0]
    assert b"Hello number 1.\r\n" in out
    assert len(message_files(imap_server)) == 3
    tagged, out = b.cmd("NOOP")
    assert out == [b"* 2 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    for _ in range(100):
        if len(message_files(imap_server)) == 2:
            break
        time.sleep(0.1)
    assert len(message_files(imap_server)) == 2
    for c in (a, b):
        c.cmd("LOGOUT")


def test_copy_of_message_expunged_elsewhere(imap_server):
    """RFC 2180 4.4.1: a COPY by sequence number of a message another
    session expunged copies nothing and says so, the pending EXPUNGE
    first; a UID COPY skips the UID that is gone (RFC 9051 6.4.9)."""
    a, b = two_selected(imap_server)
    b.cmd("CREATE Dst")
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    tagged, out = a.cmd("COPY 1:3 Dst")
    assert tagged.startswith(b"t3 NO [EXPUNGEISSUED]"), (tagged, out)
    assert out == [b"* 2 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    tagged, out = b.cmd("STATUS Dst (MESSAGES)")
    assert out == [b'* STATUS "Dst" (MESSAGES 0)\r\n']
    # Now a knows: the same set by number is out of range, the two
    # left copy; a UID set naming the gone UID copies the others.
    tagged, out = a.cmd("COPY 1:2 Dst")
    assert tagged.startswith(b"t4 OK [COPYUID "), tagged
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    tagged, out = a.cmd("UID COPY 1:3 Dst")
    assert tagged.startswith(b"t5 OK [COPYUID ") and b" 3 " in tagged, \
        tagged
    tagged, out = b.cmd("STATUS Dst (MESSAGES)")
    assert out == [b'* STATUS "Dst" (MESSAGES 3)\r\n']
    for c in (a, b):
        c.cmd("LOGOUT")
