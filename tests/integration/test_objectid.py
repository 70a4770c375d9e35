"""OBJECTID (RFC 8474) over imaplib: MAILBOXID on CREATE, SELECT/EXAMINE
and STATUS, kept by RENAME and new after DELETE + CREATE (and after the
user is removed and added again); EMAILID kept by
COPY and MOVE and searchable; THREADID from Message-ID / In-Reply-To /
References at delivery and APPEND, kept by COPY and MOVE, searchable."""

import glob
import imaplib
import os
import re
import sqlite3
import time

import pytest

from helpers import LMTP, make_message
from test_imap import PW, connect, deliver, imap_server  # noqa: F401

OBJECTID = re.compile(rb"^[A-Za-z0-9_-]{1,255}$")


def valid(oid):
    return OBJECTID.match(oid) is not None


def created_id(m, name):
    typ, data = m.create(name)
    assert typ == "OK", data
    mo = re.match(rb"\[MAILBOXID \(([^)]*)\)\]", data[0])
    assert mo, data
    assert valid(mo.group(1))
    return mo.group(1)


def status_id(m, name):
    typ, data = m.status(name, "(MAILBOXID)")
    assert typ == "OK", data
    mo = re.search(rb"\(MAILBOXID \(([^)]*)\)\)", data[0])
    assert mo, data
    return mo.group(1)


def select_id(m, name, readonly=False):
    typ, data = m.select(name, readonly=readonly)
    assert typ == "OK", data
    typ, data = m.response("MAILBOXID")
    assert data and data[0] is not None, data
    mo = re.match(rb"\(([^)]*)\)$", data[0])
    assert mo, data
    return mo.group(1)


def fetch_ids(m, uid=False):
    """{uid: (emailid, threadid)} of the selected mailbox; threadid is
    the id, or b"NIL"."""
    typ, data = m.uid("FETCH", "1:*", "(EMAILID THREADID)")
    assert typ == "OK", data
    out = {}
    tid = rb"THREADID (?:\(([^)]*)\)|(NIL))"
    for line in data:
        if not isinstance(line, bytes):
            continue
        mo = re.search(rb"UID (\d+) EMAILID \(([^)]*)\) " + tid, line)
        if mo is None:
            mo = re.search(rb"EMAILID \(([^)]*)\) " + tid + rb" UID (\d+)",
                           line)
            assert mo, line
            out[int(mo.group(4))] = (mo.group(1),
                                     mo.group(2) or mo.group(3))
        else:
            out[int(mo.group(1))] = (mo.group(2),
                                     mo.group(3) or mo.group(4))
    return out


def test_capability(imap_server):
    m = connect(imap_server)
    typ, data = m.capability()
    caps = data[0].split()
    for c in (b"OBJECTID", b"PREVIEW", b"SAVEDATE"):
        assert c in caps, data
    m.logout()


def test_mailboxid_create_status_select_rename(imap_server):
    m = connect(imap_server)
    foo = created_id(m, "foo")
    bar = created_id(m, "bar")
    assert foo != bar
    assert status_id(m, "foo") == foo
    assert status_id(m, "bar") == bar
    assert select_id(m, "foo") == foo
    assert select_id(m, "bar", readonly=True) == bar
    inbox = select_id(m, "INBOX")
    assert inbox not in (foo, bar) and valid(inbox)
    m.close()
    # RENAME keeps the id, children included.
    sub = created_id(m, "foo/sub")
    assert m.rename("foo", "renamed")[0] == "OK"
    assert status_id(m, "renamed") == foo
    assert status_id(m, "renamed/sub") == sub
    assert status_id(m, "bar") == bar
    # STATUS with other items, and LIST-STATUS.
    typ, data = m.status("bar", "(MESSAGES MAILBOXID UIDNEXT)")
    assert re.search(rb"MESSAGES 0 UIDNEXT 1 MAILBOXID \(" + bar + rb"\)\)",
                     data[0]), data
    typ, data = m._simple_command("LIST", '""', "bar", "RETURN",
                                  "(STATUS (MAILBOXID))")
    assert typ == "OK"
    typ, data = m._untagged_response(typ, data, "STATUS")
    assert any(b"MAILBOXID (" + bar + b")" in d for d in data), data
    m.logout()


def test_mailboxid_delete_create_is_new(imap_server):
    m = connect(imap_server)
    first = created_id(m, "again")
    assert m.delete("again")[0] == "OK"
    second = created_id(m, "again")
    assert second != first
    assert status_id(m, "again") == second
    # Rename away and create the old name: the new mailbox is new.
    assert m.rename("again", "moved")[0] == "OK"
    third = created_id(m, "again")
    assert third not in (first, second)
    assert status_id(m, "moved") == second
    m.logout()


def test_rename_inbox_new_mailbox(imap_server):
    """RFC 3501 6.3.5: renaming INBOX makes a new mailbox and moves the
    messages; INBOX keeps its id, the messages keep their EMAILIDs."""
    deliver(imap_server, "alice", make_message(1))
    m = connect(imap_server)
    inbox = select_id(m, "INBOX")
    before = fetch_ids(m)
    m.close()
    assert m.rename("INBOX", "old-inbox")[0] == "OK"
    assert status_id(m, "INBOX") == inbox
    other = status_id(m, "old-inbox")
    assert other != inbox
    select_id(m, "old-inbox")
    after = fetch_ids(m)
    assert sorted(v[0] for v in after.values()) == \
        sorted(v[0] for v in before.values())
    m.logout()


def test_emailid_copy_move_search(imap_server):
    for n in range(3):
        deliver(imap_server, "alice", make_message(n))
    m = connect(imap_server)
    created_id(m, "dst")
    m.select("INBOX")
    ids = fetch_ids(m)
    assert len(ids) == 3
    emailids = [ids[u][0] for u in sorted(ids)]
    assert len(set(emailids)) == 3
    assert all(valid(e) for e in emailids)
    # Three Message-IDs, no references: three threads.
    threadids = [ids[u][1] for u in sorted(ids)]
    assert len(set(threadids)) == 3
    assert all(valid(t) and t.startswith(b"T") for t in threadids)
    assert not set(threadids) & set(emailids)
    # The same on a second FETCH, and by sequence number.
    typ, data = m.fetch("2", "(EMAILID)")
    assert data[0] == b"2 (EMAILID (" + emailids[1] + b"))", data

    # COPY keeps the id; the source keeps it too.
    typ, data = m.uid("COPY", "1", "dst")
    assert typ == "OK", data
    typ, data = m.uid("MOVE", "2", "dst")
    assert typ == "OK", data
    assert fetch_ids(m)[1][0] == emailids[0]
    typ, data = m.search(None, "EMAILID", emailids[0].decode())
    assert data == [b"1"], data
    typ, data = m.uid("SEARCH", "EMAILID", emailids[1].decode())
    assert data == [b""], data
    m.select("dst")
    dst = fetch_ids(m)
    assert [dst[u][0] for u in sorted(dst)] == emailids[:2]
    typ, data = m.uid("SEARCH", "EMAILID", emailids[1].decode())
    assert data == [b"2"], data
    # Case matters (RFC 8474 7); a well-formed unknown id finds nothing.
    typ, data = m.search(None, "EMAILID", emailids[1].decode().upper())
    assert data == [b""], data
    typ, data = m.search(None, "EMAILID", "Mnosuchid")
    assert data == [b""], data
    # COPY and MOVE keep the thread too.
    assert [dst[u][1] for u in sorted(dst)] == threadids[:2]
    typ, data = m.uid("SEARCH", "THREADID", threadids[1].decode())
    assert data == [b"2"], data
    # An unknown id matches nothing (RFC 8474 5.2).
    typ, data = m.search(None, "THREADID", "T1")
    assert typ == "OK" and data == [b""], data
    typ, data = m.search(None, "NOT", "THREADID", "T1")
    assert data == [b"1 2"], data
    # An invalid objectid is a BAD.
    with pytest.raises(imaplib.IMAP4.error, match="Invalid object id"):
        m.search(None, "EMAILID", '"a.b"')
    m.logout()


def test_emailid_append_is_new(imap_server):
    """The same bytes appended twice are two blobs: two EMAILIDs, one
    thread (the same Message-ID)."""
    m = connect(imap_server)
    msg = make_message(7)
    assert m.append("INBOX", None, None, msg)[0] == "OK"
    assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    ids = fetch_ids(m)
    assert len({v[0] for v in ids.values()}) == 2
    assert len({v[1] for v in ids.values()}) == 1
    m.logout()


def test_emailid_other_user_differs(imap_server):
    deliver(imap_server, "alice", make_message(1))
    deliver(imap_server, "bob", make_message(1))
    a = connect(imap_server, "alice")
    b = connect(imap_server, "bob")
    a.select("INBOX")
    b.select("INBOX")
    assert fetch_ids(a)[1][0] != fetch_ids(b)[1][0]
    a.logout()
    b.logout()


def test_mailboxid_user_recreated_differs(imap_server):
    """A user removed and added again starts a new store whose row ids
    start over; the UIDVALIDITY part keeps the MAILBOXIDs new."""
    imap_server.add_user("dave", PW)
    m = connect(imap_server, "dave")
    old = (status_id(m, "INBOX"), created_id(m, "x"))
    m.logout()
    imap_server.cli("user", "del", "dave", "--purge")
    # UIDVALIDITY counts seconds.
    time.sleep(1.1)
    imap_server.add_user("dave", PW)
    m = connect(imap_server, "dave")
    new = (status_id(m, "INBOX"), created_id(m, "x"))
    m.logout()
    assert not set(old) & set(new), (old, new)


def reply(n, parent_ns, subject="Re: thread", msgid=None):
    """A message msg-<n> replying to msg-<parent_ns[-1]>, with References
    naming every msg-<p> of parent_ns."""
    refs = b" ".join(b"<msg-%d@example.org>" % p for p in parent_ns)
    extra = b""
    if parent_ns:
        extra = (b"In-Reply-To: <msg-%d@example.org>\r\n" % parent_ns[-1] +
                 b"References: " + refs + b"\r\n")
    return make_message(n, subject=subject, extra=extra)


def thread_of(m, uid):
    typ, data = m.uid("FETCH", str(uid), "(THREADID)")
    assert typ == "OK", data
    mo = re.search(rb"THREADID (?:\(([^)]*)\)|(NIL))", data[0])
    assert mo, data
    return mo.group(1) or mo.group(2)


def test_threadid_reply_delivered(imap_server):
    """A reply delivered by LMTP gets its parent's THREADID; a reply
    delivered before its parent too (the parent finds its own id); an
    APPENDed reply (a Sent copy) joins as well; COPY keeps it; SEARCH
    THREADID finds the thread in the selected mailbox only."""
    deliver(imap_server, "alice", make_message(100))            # uid 1
    deliver(imap_server, "alice", reply(101, [100]))            # uid 2
    deliver(imap_server, "alice", make_message(200))            # uid 3
    deliver(imap_server, "alice", reply(102, [100, 101]))       # uid 4
    deliver(imap_server, "alice", reply(301, [300]))            # uid 5
    deliver(imap_server, "alice", make_message(300))            # uid 6
    m = connect(imap_server)
    assert m.append("INBOX", None, None, reply(103, [100, 102]))[0] == "OK"
    m.create("dst")
    m.select("INBOX")
    t = {u: thread_of(m, u) for u in range(1, 8)}
    assert all(valid(v) and v.startswith(b"T") for v in t.values()), t
    assert t[1] == t[2] == t[4] == t[7]
    assert t[5] == t[6]
    assert len({t[1], t[3], t[5]}) == 3
    typ, data = m.uid("SEARCH", "THREADID", t[1].decode())
    assert data == [b"1 2 4 7"], data
    typ, data = m.search(None, "THREADID", t[5].decode(), "NOT", "UID", "6")
    assert data == [b"5"], data
    # SORT takes the key too.
    typ, data = m.uid("SORT", "(ARRIVAL)", "UTF-8", "THREADID",
                      t[1].decode())
    assert typ == "OK" and data == [b"1 2 4 7"], data

    typ, data = m.uid("COPY", "2,6", "dst")
    assert typ == "OK", data
    m.select("dst")
    assert thread_of(m, 1) == t[2] and thread_of(m, 2) == t[6]
    typ, data = m.uid("SEARCH", "THREADID", t[1].decode())
    assert data == [b"1"], data
    m.logout()

    # Another user's store does not know these ids.
    deliver(imap_server, "bob", reply(104, [100]))
    b = connect(imap_server, "bob")
    b.select("INBOX")
    assert thread_of(b, 1) not in t.values()
    b.logout()


def test_threadid_lmtp_two_recipients(imap_server):
    """One LMTP transaction to two users threads each copy in its own
    user's store."""
    for user in ("alice", "bob"):
        deliver(imap_server, user, make_message(1))
    lm = LMTP(port=imap_server.ports["lmtp"])
    lm.cmd("LHLO test")
    codes = lm.deliver("sender@example.org", ["alice", "bob"], reply(2, [1]))
    assert codes == [250, 250], codes
    lm.cmd("QUIT")
    for user in ("alice", "bob"):
        m = connect(imap_server, user)
        m.select("INBOX")
        assert thread_of(m, 1) == thread_of(m, 2)
        m.logout()


def test_threadid_nil_before_upgrade(imap_server):
    """Messages stored before threads were kept (a version 5 store) say
    THREADID NIL and match no THREADID; messages delivered after the
    upgrade are threaded."""
    deliver(imap_server, "alice", make_message(1))
    imap_server.stop()
    path, = glob.glob(os.path.join(imap_server.data, "users", "*", "alice",
                                   "store.db"))
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER blobs_thread_delete;"
                     "DROP TABLE threads_blob;"
                     "DROP TABLE threads_msgid;"
                     "PRAGMA user_version = 5;")
    db.close()
    imap_server.start(wait=("imap", "lmtp"))
    deliver(imap_server, "alice", reply(2, [1]))
    deliver(imap_server, "alice", reply(3, [1, 2]))
    m = connect(imap_server)
    m.select("INBOX")
    assert thread_of(m, 1) == b"NIL"
    t = thread_of(m, 2)
    assert t != b"NIL" and thread_of(m, 3) == t
    typ, data = m.search(None, "THREADID", t.decode())
    assert data == [b"2 3"], data
    m.logout()
