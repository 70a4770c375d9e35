"""\\Recent for IMAP4rev1 sessions (RFC 3501 2.3.2, 6.3.1, 7.3.2): the
first session to SELECT a mailbox, or to be told of a new message, gets
those messages as \\Recent; nobody else does. EXAMINE and STATUS only
count. After ENABLE IMAP4rev2 none of it is sent (RFC 9051 appendix E)."""

import re

from helpers import make_message
from test_imap import PW, connect, deliver, imap_server  # noqa: F401
from test_imap_push import Raw


def recent(m):
    """The last untagged RECENT imaplib collected (and drops), or None."""
    typ, data = m.response("RECENT")
    return int(data[-1]) if data and data[-1] is not None else None


def flags(m, seqs="1:*"):
    typ, data = m.fetch(seqs, "(UID FLAGS)")
    assert typ == "OK", data
    out = {}
    for d in data:
        mo = re.match(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)\)", d)
        assert mo, d
        out[int(mo.group(1))] = mo.group(2).split()
    return out


def search(m, key):
    typ, data = m.search(None, key)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_select_claims(imap_server):
    deliver(imap_server, "alice", make_message(1))
    deliver(imap_server, "alice", make_message(2))
    a = connect(imap_server)
    typ, data = a.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    assert recent(a) == 2
    assert flags(a) == {1: [b"\\Recent"], 2: [b"\\Recent"]}
    # The second session to SELECT gets nothing.
    b = connect(imap_server)
    b.select("INBOX")
    assert recent(b) == 0
    assert flags(b) == {1: [], 2: []}
    # A's claim outlives its session.
    a.logout()
    c = connect(imap_server)
    c.select("INBOX")
    assert recent(c) == 0
    typ, data = c.status("INBOX", "(RECENT)")
    assert b"RECENT 0" in data[0]
    b.logout()
    c.logout()


def test_new_delivery(imap_server):
    deliver(imap_server, "alice", make_message(1))
    a = connect(imap_server)
    b = connect(imap_server)
    a.select("INBOX")
    assert recent(a) == 1
    b.select("INBOX")
    assert recent(b) == 0
    deliver(imap_server, "alice", make_message(2))
    # A is told first: it claims the new message.
    a.noop()
    typ, data = a.response("EXISTS")
    assert data[-1] == b"2"
    assert recent(a) == 2
    # B sees it exist, but not as recent, and gets no RECENT.
    b.noop()
    typ, data = b.response("EXISTS")
    assert data[-1] == b"2"
    assert recent(b) is None
    assert flags(a) == {1: [b"\\Recent"], 2: [b"\\Recent"]}
    assert flags(b) == {1: [], 2: []}
    # The same while idle (raw: imaplib has no IDLE before 3.14).
    r = Raw(imap_server)
    r.cmd("LOGIN alice %s" % PW)
    tagged, out = r.cmd("SELECT INBOX")
    assert b"* 0 RECENT\r\n" in out
    r.send("i1 IDLE")
    assert r.readline() == b"+ idling\r\n"
    deliver(imap_server, "alice", make_message(3))
    assert r.readline() == b"* 3 EXISTS\r\n"
    assert r.readline() == b"* 1 RECENT\r\n"
    r.send("DONE")
    assert r.readline().startswith(b"i1 OK")
    tagged, out = r.cmd("FETCH 3 (FLAGS)")
    assert out == [b"* 3 FETCH (FLAGS (\\Recent))\r\n"]
    a.noop()
    assert recent(a) is None
    assert flags(a, "3") == {3: []}
    a.logout()
    b.logout()


def test_examine_status_dont_claim(imap_server):
    deliver(imap_server, "alice", make_message(1))
    deliver(imap_server, "alice", make_message(2))
    m = connect(imap_server)
    typ, data = m.status("INBOX", "(MESSAGES RECENT)")
    assert b"MESSAGES 2 RECENT 2" in data[0]
    typ, data = m.status("INBOX", "(RECENT)")
    assert b"RECENT 2" in data[0]
    m.select("INBOX", readonly=True)
    assert recent(m) == 2
    # EXAMINE shows the count but claims nothing, so no \Recent flag.
    assert flags(m) == {1: [], 2: []}
    assert search(m, "RECENT") == []
    m.select("INBOX", readonly=True)
    assert recent(m) == 2
    m.close()
    typ, data = m.status("INBOX", "(RECENT)")
    assert b"RECENT 2" in data[0]
    m.select("INBOX")
    assert recent(m) == 2
    typ, data = m.status("INBOX", "(RECENT)")
    assert b"RECENT 0" in data[0]
    # A message APPENDed to another mailbox is recent there.
    m.create("Other")
    typ, data = m.append("Other", None, None, make_message(5))
    assert typ == "OK"
    typ, data = m.status("Other", "(MESSAGES RECENT)")
    assert b"MESSAGES 1 RECENT 1" in data[0]
    # \Recent cannot be stored: ignored.
    typ, data = m.store("1", "FLAGS", "(\\Recent \\Flagged)")
    assert typ == "OK"
    typ, data = m.store("2", "-FLAGS", "(\\Recent)")
    assert typ == "OK"
    assert flags(m) == {1: [b"\\Recent", b"\\Flagged"], 2: [b"\\Recent"]}
    m.logout()


def test_search_recent_new_old(imap_server):
    for i in range(3):
        deliver(imap_server, "alice", make_message(i))
    a = connect(imap_server)
    a.select("INBOX")
    a.store("1", "+FLAGS", "(\\Seen)")
    assert search(a, "RECENT") == [1, 2, 3]
    assert search(a, "NEW") == [2, 3]
    assert search(a, "OLD") == []
    assert search(a, "NOT NEW") == [1]
    b = connect(imap_server)
    b.select("INBOX")
    assert search(b, "RECENT") == []
    assert search(b, "NEW") == []
    assert search(b, "OLD") == [1, 2, 3]
    deliver(imap_server, "alice", make_message(3))
    b.noop()
    assert recent(b) == 1
    assert search(b, "RECENT") == [4]
    assert search(b, "OLD") == [1, 2, 3]
    a.noop()
    assert search(a, "RECENT") == [1, 2, 3]
    assert search(a, "OLD") == [4]
    typ, data = a.uid("SEARCH", None, "NEW")
    assert data == [b"2 3"]
    a.logout()
    b.logout()


def test_rev2_no_recent(imap_server):
    deliver(imap_server, "alice", make_message(1))
    r = Raw(imap_server)
    r.cmd("LOGIN alice %s" % PW)
    tagged, out = r.cmd("ENABLE IMAP4rev2")
    assert b"* ENABLED IMAP4rev2\r\n" in out
    tagged, out = r.cmd("SELECT INBOX")
    assert tagged.startswith(b"t3 OK")
    assert not any(b"RECENT" in x for x in out)
    deliver(imap_server, "alice", make_message(2))
    tagged, out = r.cmd("NOOP")
    assert out == [b"* 2 EXISTS\r\n"]
    tagged, out = r.cmd("FETCH 1:* (FLAGS)")
    assert out == [b"* 1 FETCH (FLAGS ())\r\n",
                   b"* 2 FETCH (FLAGS ())\r\n"]
    tagged, out = r.cmd("STATUS INBOX (MESSAGES)")
    assert not any(b"RECENT" in x for x in out)
    # The IMAP4rev2 session took nothing: a rev1 session still gets both.
    m = connect(imap_server)
    m.select("INBOX")
    assert recent(m) == 2
    m.logout()
    tagged, out = r.cmd("LOGOUT")
    r.s.close()


def test_recent_count_over_many(imap_server):
    """The count sent with EXISTS walks the newest messages in batches:
    right across batch boundaries and after an expunge."""
    b = connect(imap_server)
    for i in range(150):
        typ, _ = b.append("INBOX", None, None, make_message(i))
        assert typ == "OK"
    a = connect(imap_server)
    a.select("INBOX")
    assert recent(a) == 150
    b.select("INBOX")
    b.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    b.close()  # expunges; b must not be the first told of the new ones
    for i in range(2):
        b.append("INBOX", None, None, make_message(200 + i))
    a.noop()
    typ, data = a.response("EXISTS")
    assert data[-1] == b"151"
    assert recent(a) == 151
    assert search(a, "RECENT") == list(range(1, 152))
    a.logout()
    b.logout()
