"""NOTIFY (RFC 5465): STATUS for other mailboxes, LIST for mailbox and
subscription changes, the selected mailbox's changes with FETCH
attributes, all pushed while the client is idle between commands and in
IDLE; NOTIFY NONE, BADEVENT and the argument rules; a session that does
not use NOTIFY sees nothing new."""

import re
import select
import socket
import time

from helpers import make_message
from test_imap import PW, deliver, imap_server  # noqa: F401


class Raw:
    """A raw IMAP connection with its own buffer, so a test can also
    check that nothing arrives."""

    def __init__(self, server):
        self.s = socket.create_connection(("127.0.0.1",
                                           server.ports["imap"]),
                                          timeout=10)
        self.buf = b""
        greet = self.readline()
        assert greet.startswith(b"* OK") and b" NOTIFY" in greet
        self.n = 0

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def _fill(self):
        data = self.s.recv(65536)
        assert data, "connection closed"
        self.buf += data

    def readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        ln, self.buf = self.buf[:i], self.buf[i:]
        return ln

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, line):
        self.n += 1
        tag = "t%d" % self.n
        self.send("%s %s" % (tag, line))
        out = []
        while True:
            ln = self.readline()
            if ln.startswith(tag.encode() + b" "):
                return ln, out
            out.append(ln)

    def login(self, rev2=False):
        tagged, _ = self.cmd("LOGIN alice %s" % PW)
        assert b" OK " in tagged
        if rev2:
            # No \\Recent in the expected replies.
            assert b" OK " in self.cmd("ENABLE IMAP4rev2")[0]

    def quiet(self, wait=0.4):
        """True if nothing arrives unsolicited within `wait` seconds."""
        if self.buf:
            return False
        r, _, _ = select.select([self.s], [], [], wait)
        return not r

    def close(self):
        self.s.close()


def ok(resp):
    tagged, out = resp
    assert b" OK " in tagged, (tagged, out)
    return out


def test_status_for_other_mailboxes_and_list(imap_server):
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.login()
    b.login()
    deliver(imap_server, "alice", make_message(0))
    out = ok(a.cmd("NOTIFY SET STATUS (INBOXES (MessageNew "
                   "MessageExpunge)) (PERSONAL (MailboxName "
                   "SubscriptionChange))"))
    # SET STATUS: one STATUS per watched mailbox before the OK.
    inbox = [ln for ln in out if ln.startswith(b"* STATUS \"INBOX\" ")]
    assert len(inbox) == 1
    m = re.match(rb"\* STATUS \"INBOX\" \(MESSAGES 1 UIDNEXT 2 "
                 rb"UIDVALIDITY (\d+)\)\r\n", inbox[0])
    assert m, inbox
    uidvalidity = m.group(1)
    assert any(ln.startswith(b'* STATUS "Sent" ') for ln in out)
    ok(a.cmd("SELECT Sent"))

    # A delivery while a is idle between commands: STATUS at once.
    deliver(imap_server, "alice", make_message(1))
    assert a.readline() == (b"* STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 3 "
                            b"UIDVALIDITY " + uidvalidity + b")\r\n")
    # An expunge by another session.
    ok(b.cmd("SELECT INBOX"))
    ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
    ok(b.cmd("EXPUNGE"))
    assert a.readline().startswith(b"* STATUS \"INBOX\" (MESSAGES 1 ")

    # Mailbox names.
    ok(b.cmd("CREATE Lists"))
    assert a.readline() == b'* LIST (\\HasNoChildren) "/" "Lists"\r\n'
    ok(b.cmd("RENAME Lists Groups"))
    assert a.readline() == (b'* LIST (\\HasNoChildren) "/" "Groups" '
                            b'("OLDNAME" ("Lists"))\r\n')
    ok(b.cmd("SUBSCRIBE Groups"))
    assert a.readline() == (b'* LIST (\\HasNoChildren \\Subscribed) "/" '
                            b'"Groups"\r\n')
    ok(b.cmd("UNSUBSCRIBE Groups"))
    assert a.readline() == b'* LIST (\\HasNoChildren) "/" "Groups"\r\n'
    ok(b.cmd("DELETE Groups"))
    assert a.readline() == b'* LIST (\\NonExistent) "/" "Groups"\r\n'
    # A child's create and delete also list its parent (5.4).
    ok(b.cmd("CREATE Sent/2026"))
    assert a.readline() == b'* LIST (\\HasNoChildren) "/" "Sent/2026"\r\n'
    assert a.readline().startswith(b'* LIST (\\HasChildren')
    ok(b.cmd("DELETE Sent/2026"))
    assert a.readline() == b'* LIST (\\NonExistent) "/" "Sent/2026"\r\n'
    assert a.readline().startswith(b'* LIST (\\HasNoChildren')

    # The session's own changes are not echoed to it (RFC 5465 5).
    out = ok(a.cmd("CREATE Mine"))
    assert out == []
    assert a.quiet()

    # NOTIFY NONE stops it all.
    ok(a.cmd("NOTIFY NONE"))
    deliver(imap_server, "alice", make_message(2))
    ok(b.cmd("CREATE Quiet"))
    assert a.quiet()
    out = ok(a.cmd("NOOP"))
    assert out == []
    a.close()
    b.close()


def test_selected_with_fetch_attributes(imap_server):
    deliver(imap_server, "alice", make_message(0, subject="first"))
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.login(rev2=True)
    b.login()
    ok(a.cmd("SELECT INBOX"))
    ok(a.cmd("NOTIFY SET (SELECTED (MessageNew (UID "
             "BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge "
             "FlagChange))"))
    deliver(imap_server, "alice", make_message(1, subject="pushed"))
    assert a.readline() == b"* 2 EXISTS\r\n"
    ln = a.readline()
    m = re.match(rb"\* 2 FETCH \(UID 2 BODY\[HEADER\.FIELDS \(SUBJECT\)\] "
                 rb"\{(\d+)\}\r\n", ln, re.I)
    assert m, ln
    body = a.read(int(m.group(1)))
    assert b"Subject: pushed" in body
    assert a.readline() == b")\r\n"
    # Another session's flag change and expunge, at once.
    ok(b.cmd("SELECT INBOX"))
    ok(b.cmd("STORE 1 +FLAGS (\\Flagged)"))
    assert a.readline() == b"* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n"
    ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
    assert a.readline() == (b"* 1 FETCH (UID 1 FLAGS (\\Flagged "
                            b"\\Deleted))\r\n")
    ok(b.cmd("EXPUNGE"))
    assert a.readline() == b"* 1 EXPUNGE\r\n"
    assert a.readline() == b"* 1 EXISTS\r\n"
    # In IDLE the same events go out.
    a.send("i1 IDLE")
    assert a.readline().startswith(b"+ ")
    deliver(imap_server, "alice", make_message(2, subject="idle"))
    assert a.readline() == b"* 2 EXISTS\r\n"
    ln = a.readline()
    m = re.match(rb"\* 2 FETCH \(UID 3 .*\{(\d+)\}\r\n", ln)
    assert m, ln
    a.read(int(m.group(1)))
    assert a.readline() == b")\r\n"
    a.send("DONE")
    assert a.readline().startswith(b"i1 OK")
    a.close()
    b.close()


def test_selected_delayed_holds_expunges(imap_server):
    for i in range(2):
        deliver(imap_server, "alice", make_message(i))
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.login(rev2=True)
    b.login()
    ok(a.cmd("SELECT INBOX"))
    ok(a.cmd("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))"))
    ok(b.cmd("SELECT INBOX"))
    ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
    assert a.readline() == b"* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n"
    ok(b.cmd("EXPUNGE"))
    assert a.quiet()
    # A command that may report expunges does.
    out = ok(a.cmd("NOOP"))
    assert out == [b"* 1 EXPUNGE\r\n", b"* 1 EXISTS\r\n"]
    a.close()
    b.close()


def test_idle_gets_status(imap_server):
    a = Raw(imap_server)
    a.login()
    ok(a.cmd("NOTIFY SET (MAILBOXES INBOX (MessageNew MessageExpunge)) "
             "(SUBTREE (Lists) (MessageNew MessageExpunge))"))
    a.send("i1 IDLE")
    assert a.readline().startswith(b"+ ")
    deliver(imap_server, "alice", make_message(0))
    assert a.readline().startswith(b"* STATUS \"INBOX\" (MESSAGES 1 ")
    a.send("DONE")
    assert a.readline().startswith(b"i1 OK")
    # A mailbox outside the specifiers tells nothing.
    b = Raw(imap_server)
    b.login()
    ok(b.cmd("CREATE Other"))
    ok(b.cmd("CREATE Lists/Sub"))
    ok(b.cmd("SELECT INBOX"))
    ok(b.cmd("COPY 1 Other"))
    ok(b.cmd("COPY 1 Lists/Sub"))
    assert a.readline().startswith(b'* STATUS "Lists/Sub" (MESSAGES 1 ')
    assert a.quiet()
    a.close()
    b.close()


def test_condstore_adds_highestmodseq(imap_server):
    a = Raw(imap_server)
    a.login()
    ok(a.cmd("ENABLE CONDSTORE"))
    ok(a.cmd("NOTIFY SET (INBOXES (MessageNew MessageExpunge "
             "FlagChange))"))
    deliver(imap_server, "alice", make_message(0))
    ln = a.readline()
    assert re.match(rb"\* STATUS \"INBOX\" \(MESSAGES 1 UIDNEXT 2 "
                    rb"UIDVALIDITY \d+ HIGHESTMODSEQ \d+\)\r\n", ln), ln
    a.close()


def test_bad_arguments(imap_server):
    a = Raw(imap_server)
    a.login()
    cases = [
        ("NOTIFY", b"BAD"),
        ("NOTIFY FOO", b"BAD"),
        ("NOTIFY SET", b"BAD"),
        ("NOTIFY NONE extra", b"BAD"),
        # Lone events are accepted (RFC 5465 3's example), see
        # test_lone_events.
        ("NOTIFY SET (PERSONAL (MessageNew))", b"OK"),
        ("NOTIFY SET (PERSONAL (FlagChange))", b"OK"),
        # Only message events for SELECTED (6.1), and only once.
        ("NOTIFY SET (SELECTED (MailboxName))", b"BAD"),
        ("NOTIFY SET (SELECTED (MessageNew MessageExpunge)) "
         "(SELECTED-DELAYED (MessageNew MessageExpunge))", b"BAD"),
        # FETCH attributes only for SELECTED.
        ("NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))",
         b"BAD"),
        ("NOTIFY SET (SELECTED (MessageNew (BODY[]) MessageExpunge))",
         b"BAD"),
        ("NOTIFY SET (NOWHERE (MessageNew MessageExpunge))", b"BAD"),
        ("NOTIFY SET (SUBTREE (MessageNew MessageExpunge))", b"BAD"),
        ("NOTIFY SET (PERSONAL (Bogus))", b"NO [BADEVENT"),
        ("NOTIFY SET (PERSONAL (MailboxMetadataChange))",
         b"NO [BADEVENT"),
    ]
    for line, want in cases:
        tagged, out = a.cmd(line)
        assert tagged.split(b" ", 1)[1].startswith(want), (line, tagged)
        if want == b"NO [BADEVENT":
            assert (b"[BADEVENT (MessageNew MessageExpunge FlagChange "
                    b"AnnotationChange MailboxName SubscriptionChange)]"
                    in tagged)
    # Accepted forms.
    for line in ("NOTIFY SET (SELECTED NONE)",
                 "NOTIFY SET (personal (mailboxname)) "
                 "(subscribed (SubscriptionChange))",
                 "NOTIFY SET (MAILBOXES (INBOX Sent) (MessageNew "
                 "MessageExpunge AnnotationChange))",
                 "NOTIFY NONE"):
        ok(a.cmd(line))
    a.close()


def test_session_without_notify_is_unaffected(imap_server):
    deliver(imap_server, "alice", make_message(0))
    c = Raw(imap_server)
    b = Raw(imap_server)
    c.login()
    b.login()
    ok(c.cmd("SELECT INBOX"))
    deliver(imap_server, "alice", make_message(1))
    ok(b.cmd("CREATE Elsewhere"))
    ok(b.cmd("SUBSCRIBE Elsewhere"))
    ok(b.cmd("SELECT Elsewhere"))
    assert c.quiet()
    out = ok(c.cmd("NOOP"))
    assert out[0] == b"* 2 EXISTS\r\n"
    assert all(ln.endswith(b" RECENT\r\n") for ln in out[1:])
    c.close()
    b.close()


def test_overflow_turns_notify_off(imap_server):
    """A session whose output is stuck behind a large FETCH queues name
    changes up to the limit, then gets NOTIFICATIONOVERFLOW and no more
    notifications (RFC 5465 5.8)."""
    b = Raw(imap_server)
    b.login()
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 8000
    b.send("a1 APPEND INBOX {%d}" % len(big))
    assert b.readline().startswith(b"+")
    b.s.sendall(big + b"\r\n")
    assert b.readline().startswith(b"a1 OK")

    a = Raw.__new__(Raw)
    a.s = socket.socket()
    a.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.s.settimeout(10)
    a.s.connect(("127.0.0.1", imap_server.ports["imap"]))
    a.buf = b""
    a.n = 0
    a.readline()
    a.login()
    ok(a.cmd("SELECT INBOX"))
    ok(a.cmd("NOTIFY SET (PERSONAL (MailboxName))"))
    # The FETCH reply cannot all go out while a reads nothing.
    a.send("f1 FETCH 1 BODY.PEEK[]")
    time.sleep(0.3)
    for i in range(270):
        ok(b.cmd("CREATE Many%d" % i))
    ln = a.readline()
    m = re.match(rb"\* 1 FETCH \(BODY\[\] \{(\d+)\}\r\n", ln)
    assert m, ln
    a.read(int(m.group(1)))
    assert a.readline() == b")\r\n"
    assert a.readline().startswith(b"f1 OK")
    assert a.readline().startswith(b"* OK [NOTIFICATIONOVERFLOW]")
    ok(b.cmd("CREATE After"))
    assert a.quiet()
    out = ok(a.cmd("NOOP"))
    assert out == []
    a.close()
    b.close()


def test_pop3_and_quire_deliver_reach_notify(imap_server):
    """Changes from POP3 and from `quire deliver` through the daemon reach
    a NOTIFY session as well, and a burst of them may give one STATUS."""
    import poplib
    import subprocess
    from conftest import QUIRE

    a = Raw(imap_server)
    a.login()
    ok(a.cmd("NOTIFY SET (INBOXES (MessageNew MessageExpunge "
             "FlagChange))"))
    msg = make_message(0).replace(b"\r\n", b"\n")
    r = subprocess.run([QUIRE, "-c", imap_server.conf, "deliver", "-u",
                        "alice"], input=msg, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert a.readline().startswith(b'* STATUS "INBOX" (MESSAGES 1 ')
    # POP3 DELE + QUIT expunges.
    p = poplib.POP3("127.0.0.1", imap_server.ports["pop3"], timeout=30)
    p.user("alice")
    p.pass_(PW)
    p.retr(1)
    p.dele(1)
    p.quit()
    lines = [a.readline()]
    while b"MESSAGES 0 " not in lines[-1]:
        lines.append(a.readline())
    assert all(ln.startswith(b'* STATUS "INBOX" (') for ln in lines)
    # A flag change alone, without CONDSTORE, shows as UNSEEN (5.1).
    b = Raw(imap_server)
    b.login()
    deliver(imap_server, "alice", make_message(1))
    assert a.readline().startswith(b'* STATUS "INBOX" (MESSAGES 1 ')
    ok(b.cmd("SELECT INBOX"))
    ok(b.cmd("STORE 1 +FLAGS (\\Seen)"))
    ln = a.readline()
    # (and HIGHESTMODSEQ: the server supports CONDSTORE, RFC 5465 3)
    assert re.match(rb'\* STATUS "INBOX" \(MESSAGES 1 UIDNEXT 3 '
                    rb'UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)\r\n',
                    ln), ln
    b.close()
    a.close()


def test_pushed_fetch_of_the_whole_message(imap_server):
    a = Raw(imap_server)
    a.login(rev2=True)
    ok(a.cmd("SELECT INBOX"))
    ok(a.cmd("NOTIFY SET (SELECTED (MessageNew (BODY.PEEK[] RFC822.SIZE) "
             "MessageExpunge))"))
    msg = make_message(0, body_lines=[b"line %d" % i for i in range(3000)])
    deliver(imap_server, "alice", msg)
    assert a.readline() == b"* 1 EXISTS\r\n"
    ln = a.readline()
    m = re.match(rb"\* 1 FETCH \(UID 1 BODY\[\] \{(\d+)\}\r\n", ln)
    assert m, ln
    body = a.read(int(m.group(1)))
    assert body.endswith(msg)
    tail = a.readline()
    assert tail == b" RFC822.SIZE %d)\r\n" % len(body)
    # The message is still unseen: the push used BODY.PEEK.
    out = ok(a.cmd("FETCH 1 FLAGS"))
    assert out == [b"* 1 FETCH (FLAGS ())\r\n"]
    a.close()


def test_lone_events(imap_server):
    """MessageExpunge alone reports expunges (STATUS with MESSAGES) but
    not deliveries; FlagChange alone reports flag changes with
    HIGHESTMODSEQ and UIDVALIDITY (RFC 5465 3: the server supports
    CONDSTORE) even when the client did not enable CONDSTORE."""
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.login()
    b.login()
    ok(b.cmd("CREATE Other"))
    ok(b.cmd("APPEND Other {3+}\r\nxyz"))
    out = ok(a.cmd("NOTIFY SET STATUS (MAILBOXES Other (MessageExpunge))"))
    assert any(ln.startswith(b'* STATUS "Other" (MESSAGES 1')
               for ln in out), out
    ok(b.cmd("APPEND Other {3+}\r\nabc"))
    assert a.quiet()
    ok(b.cmd("SELECT Other"))
    ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
    ok(b.cmd("EXPUNGE"))
    assert a.readline().startswith(b'* STATUS "Other" (MESSAGES 1')

    out = ok(a.cmd("NOTIFY SET STATUS (MAILBOXES Other (FlagChange))"))
    st = [ln for ln in out if ln.startswith(b'* STATUS "Other"')]
    assert len(st) == 1 and b"HIGHESTMODSEQ" in st[0] and \
        b"UIDVALIDITY" in st[0], out
    ok(b.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)"))
    ln = a.readline()
    assert ln.startswith(b'* STATUS "Other"') and b"HIGHESTMODSEQ" in ln
    a.close()
    b.close()
