"""Protocol corner cases found by running an independent IMAP conformance
suite against quired, each checked over a raw socket so the exact reply
bytes are visible: MOVE into the selected mailbox, BODY[TEXT] of a
message that is itself message/rfc822, ESEARCH MODSEQ with MIN/MAX, no
mailbox updates after LOGOUT's BYE, LIST patterns that are not modified
UTF-7, the largest RFC 2971 ID before login, LSUB "%" and RECURSIVEMATCH
with subscribed children."""

import re
import socket

import pytest

PW = "conform-pw-1"


@pytest.fixture
def imap_server(server):
    server.add_user("alice", PW)
    server.start(wait=("imap",))
    return server


class Raw:
    """A tagged IMAP client on a plain socket: cmd() returns the lines up
    to and including the tagged reply, literals left inline."""

    def __init__(self, server, login=True):
        self.s = socket.create_connection(
            ("127.0.0.1", server.ports["imap"]), timeout=10)
        self.f = self.s.makefile("rb")
        self.n = 0
        assert self.f.readline().startswith(b"* OK")
        if login:
            self.ok("LOGIN alice " + PW)

    def send(self, data):
        self.s.sendall(data)

    def read_until(self, tag):
        lines = []
        while True:
            line = self.f.readline()
            assert line, "connection closed; so far %r" % lines
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if m:
                line += self.f.read(int(m.group(1)))
                line += self.f.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        data = text if isinstance(text, bytes) else text.encode()
        self.send(tag + b" " + data + b"\r\n")
        return self.read_until(tag)

    def ok(self, text):
        lines = self.cmd(text)
        assert b" OK" in lines[-1], lines
        return lines

    def append(self, box, msg):
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" APPEND %s {%d+}\r\n" % (box.encode(), len(msg))
                  + msg + b"\r\n")
        lines = self.read_until(tag)
        assert b" OK" in lines[-1], lines

    def close(self):
        self.s.close()


def msg(n):
    return (b"From: a@example.org\r\nSubject: m%d\r\n"
            b"Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n" % (n, n, n))


def test_move_into_selected_mailbox(imap_server):
    c = Raw(imap_server)
    c.append("INBOX", msg(1))
    c.append("INBOX", msg(2))
    c.ok("SELECT INBOX")
    lines = c.ok("MOVE 1 INBOX")
    text = b"".join(lines)
    # RFC 6851 4.3: COPYUID (new UID 3), the source's EXPUNGE and the
    # new message's EXISTS; the total stays 2.
    assert re.search(rb"\* OK \[COPYUID \d+ 1 3\]", text), lines
    assert b"* 1 EXPUNGE\r\n" in text, lines
    assert b"* 2 EXISTS\r\n" in text, lines
    lines = c.ok("UID FETCH 1:* (UID)")
    assert [re.search(rb"UID (\d+)", x).group(1) for x in lines[:-1]] == \
        [b"2", b"3"], lines
    c.close()


def test_body_text_of_message_rfc822_root(imap_server):
    inner = (b"From: inner@example.org\r\nSubject: inner\r\n\r\n"
             b"Hello world\r\n")
    outer = (b"From: outer@example.org\r\nMime-Version: 1.0\r\n"
             b"Content-Type: message/rfc822\r\n\r\n" + inner)
    c = Raw(imap_server)
    c.append("INBOX", outer)
    c.ok("SELECT INBOX")
    # RFC 9051 6.4.5: TEXT is the body of the message itself, i.e. the
    # whole encapsulated message; 1.TEXT is the encapsulated body.
    lines = c.ok("FETCH 1 (BODY.PEEK[TEXT])")
    assert b"BODY[TEXT] {%d}\r\n" % len(inner) + inner in lines[0], lines
    lines = c.ok("FETCH 1 (BODY.PEEK[HEADER])")
    assert b"outer@example.org" in lines[0], lines
    assert b"inner@example.org" not in lines[0], lines
    lines = c.ok("FETCH 1 (BODY.PEEK[1.TEXT])")
    assert b"{13}\r\nHello world\r\n" in lines[0], lines
    c.close()


def test_esearch_modseq_min_max(imap_server):
    c = Raw(imap_server)
    for i in range(1, 5):
        c.append("INBOX", msg(i))
    c.ok("SELECT INBOX")
    modseq = {}
    for seq in (1, 3, 2, 4):
        c.ok("STORE %d +FLAGS (\\Seen)" % seq)
        lines = c.ok("FETCH %d (MODSEQ)" % seq)
        modseq[seq] = int(re.search(rb"FETCH \(MODSEQ \((\d+)\)",
                                    b"".join(lines)).group(1))
    crit = 'MODSEQ "/flags/\\\\seen" all 1'

    def esearch(ret, seqs):
        lines = c.ok("SEARCH RETURN (%s) %s %s" % (ret, seqs, crit))
        return int(re.search(rb"MODSEQ (\d+)", lines[0]).group(1))

    # RFC 4731 3.2: a single MIN or MAX gives that message's modseq,
    # MIN MAX the higher of the two, anything with ALL the highest.
    assert esearch("MIN", "1:3") == modseq[1]
    assert esearch("MAX", "1:3") == modseq[3]
    assert esearch("MIN MAX", "1:3") == max(modseq[1], modseq[3])
    assert esearch("ALL", "1:3") == max(modseq[1], modseq[2], modseq[3])
    c.close()


def test_logout_sends_no_updates_after_bye(imap_server):
    a = Raw(imap_server)
    b = Raw(imap_server)
    a.append("INBOX", msg(1))
    a.append("INBOX", msg(2))
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    b.ok("STORE 1 +FLAGS (\\Flagged)")
    lines = a.cmd("LOGOUT")
    # RFC 9051 6.1.3: BYE, then the tagged OK, with nothing in between.
    assert lines[0].startswith(b"* BYE"), lines
    assert len(lines) == 2 and b" OK" in lines[1], lines
    a.close()
    b.close()


def test_list_pattern_not_modified_utf7(imap_server):
    c = Raw(imap_server)
    lines = c.cmd("LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*")
    assert len(lines) == 1 and b" OK" in lines[0], lines
    lines = c.cmd('LIST "" ("&" INBOX)')
    assert len(lines) == 2 and b'"INBOX"' in lines[0], lines
    assert b" OK" in lines[1], lines
    lines = c.cmd("SELECT &")
    assert b" NO" in lines[-1], lines
    c.close()


def test_largest_rfc2971_id_before_login(imap_server):
    c = Raw(imap_server, login=False)
    # RFC 2971 3.3: up to 30 pairs, fields of 30 octets, values of 1024.
    pairs = " ".join('"%s" "%s"' % (("f%02d" % i).ljust(30, "x"),
                                    "v" * 1024) for i in range(30))
    lines = c.cmd("ID (%s)" % pairs)
    assert lines[0].startswith(b"* ID "), lines
    assert b" OK" in lines[-1], lines
    c.ok("LOGIN alice " + PW)
    c.close()


def test_lsub_percent_and_recursivematch(imap_server):
    c = Raw(imap_server)
    for box in ("t", "t/a", "t/b", "t/b/c", "t/d", "t/d/e"):
        c.ok("CREATE " + box)
    c.ok("SUBSCRIBE t/a")
    c.ok("SUBSCRIBE t/b/c")
    c.ok("SUBSCRIBE t/d/e")
    lines = c.ok('LSUB "" t/%')
    # RFC 3501 6.3.9: "%" stops at t/b and t/d, which are listed
    # \Noselect for their subscribed children.
    assert sorted(lines[:-1]) == [
        b'* LSUB () "/" "t/a"\r\n',
        b'* LSUB (\\Noselect) "/" "t/b"\r\n',
        b'* LSUB (\\Noselect) "/" "t/d"\r\n'], lines
    lines = c.ok('LSUB "" t/*')
    assert sorted(lines[:-1]) == [
        b'* LSUB () "/" "t/a"\r\n',
        b'* LSUB () "/" "t/b/c"\r\n',
        b'* LSUB () "/" "t/d/e"\r\n'], lines
    # RFC 5258 3 rule 2B: t/b is listed for t/b/c only when t/b/c itself
    # does not match.
    lines = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" (t/b)')
    assert len(lines) == 2 and b'"t/b" ("CHILDINFO" ("SUBSCRIBED"))' \
        in lines[0], lines
    lines = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" (t/b t/b/c)')
    assert len(lines) == 2 and b'"t/b/c"' in lines[0], lines
    assert b"CHILDINFO" not in lines[0], lines
    c.close()


def test_first_condstore_command_reports_highestmodseq(imap_server):
    c = Raw(imap_server)
    c.append("INBOX", msg(1))
    c.append("INBOX", msg(2))
    lines = c.ok("SELECT INBOX")
    high = re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(lines)).group(1)
    # RFC 7162 3.1: the first CONDSTORE-enabling command with a mailbox
    # selected gets an untagged OK [HIGHESTMODSEQ], once.
    lines = c.ok("FETCH 1 (MODSEQ)")
    assert lines[0] == b"* OK [HIGHESTMODSEQ %s] Highest\r\n" % high, lines
    assert b"MODSEQ (" in lines[1], lines
    lines = c.ok("FETCH 1 (MODSEQ)")
    assert b"HIGHESTMODSEQ" not in b"".join(lines), lines
    # SEARCH MODSEQ enables it too.
    c.ok("UNSELECT")
    c2 = Raw(imap_server)
    c2.ok("SELECT INBOX")
    lines = c2.ok("SEARCH MODSEQ 1")
    assert lines[0].startswith(b"* OK [HIGHESTMODSEQ "), lines
    assert re.match(rb"\* SEARCH 1 2 \(MODSEQ \d+\)", lines[1]), lines
    c.close()
    c2.close()
