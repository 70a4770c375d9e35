"""The shared mailbox view: many IDLE sessions each get every change once,
numbered right (sessions woken sync from memory), and a SELECT after every
session left (a cached view) shows changes made meanwhile by any path:
LMTP, another IMAP session, `quire deliver` through the daemon."""

import subprocess
import time

from helpers import make_message
from test_imap import PW, deliver, imap_server  # noqa: F401
from test_imap_push import Raw, claim_recent

IDLERS = 12


def quire_cli():
    from conftest import QUIRE
    return QUIRE


def login_select(server, enable_qresync=False):
    c = Raw(server)
    assert c.cmd("LOGIN alice %s" % PW)[0].startswith(b"t1 OK")
    if enable_qresync:
        c.cmd("ENABLE QRESYNC")
    tagged, out = c.cmd("SELECT INBOX")
    assert b"OK" in tagged
    return c, out


def read_until(c, want, timeout=10):
    """Untagged lines until one equal to `want` (bytes) arrived."""
    c.s.settimeout(timeout)
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        ln = c.readline()
        assert ln, "connection closed"
        lines.append(ln)
        if ln == want:
            return lines
    raise AssertionError("no %r in %r" % (want, lines))


def test_idle_sessions_get_each_change_once(imap_server):
    for i in range(6):
        deliver(imap_server, "alice", make_message(i))
    claim_recent(imap_server)
    idlers = []
    for i in range(IDLERS):
        c, out = login_select(imap_server, enable_qresync=(i % 3 == 0))
        assert b"* 6 EXISTS\r\n" in out
        c.send("i IDLE")
        assert c.readline().startswith(b"+ ")
        idlers.append((c, i % 3 == 0))
    w, _ = login_select(imap_server)

    # A flag change, an expunge, another flag change, a delivery: every
    # session sees them in that order, each once, numbered right.
    w.cmd("UID STORE 2 +FLAGS (\\Flagged)")
    w.cmd("UID STORE 3 +FLAGS (\\Deleted)")
    w.cmd("UID EXPUNGE 3")
    w.cmd("UID STORE 5 +FLAGS (\\Seen)")
    deliver(imap_server, "alice", make_message(7))
    for c, qresync in idlers:
        lines = read_until(c, b"* 6 EXISTS\r\n")
        # The \Deleted of 3 may come before its expunge or not at all
        # (the expunge may be read first); the rest is fixed.
        lines = [ln for ln in lines if b"\\Deleted" not in ln]
        gone = b"* VANISHED 3\r\n" if qresync else b"* 3 EXPUNGE\r\n"
        want = [b"* 2 FETCH (UID 2 FLAGS (\\Flagged)",
                gone,
                b"* 4 FETCH (UID 5 FLAGS (\\Seen)",
                b"* 6 EXISTS\r\n"]
        got = []
        for ln in lines:
            for wl in want:
                if ln.startswith(wl):
                    got.append(wl)
        # Each change once and numbered right when it is told (RFC 9051
        # 7.5.1: numbers count the expunges told before; UID 5 is number
        # 4 only after the expunge). An idler woken late tells the flag
        # change of 2 and the expunge in one go, expunges first, so the
        # order is fixed only between the expunge and UID 5's change.
        assert sorted(got) == sorted(want), lines
        assert got.index(gone) < got.index(want[2]), lines
        assert got[-1] == b"* 6 EXISTS\r\n", lines
        c.send("DONE")
        tagged = c.readline()
        # (One of them is the first told of the new message: \Recent.)
        if tagged == b"* 1 RECENT\r\n":
            tagged = c.readline()
        assert tagged.startswith(b"i OK"), tagged
        # Nothing was held back or doubled.
        tagged, out = c.cmd("NOOP")
        assert out == [], out
    for c, _ in idlers:
        c.cmd("LOGOUT")
    w.cmd("LOGOUT")


def test_select_after_last_session_sees_changes(imap_server):
    for i in range(5):
        deliver(imap_server, "alice", make_message(i))
    a, out = login_select(imap_server)
    assert b"* 5 EXISTS\r\n" in out
    a.cmd("UNSELECT")  # the view is kept, no session on it

    # Changes while nobody has INBOX selected: LMTP, another session
    # opening and leaving a second mailbox, and `quire deliver` through
    # the daemon's control socket.
    deliver(imap_server, "alice", make_message(10))
    b = Raw(imap_server)
    b.cmd("LOGIN alice %s" % PW)
    b.cmd("SELECT Trash")
    b.cmd("UNSELECT")
    msg = make_message(11).replace(b"\r\n", b"\n")
    r = subprocess.run([quire_cli(), "-c", imap_server.conf, "deliver",
                        "-u", "alice"], input=msg, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    tagged, out = a.cmd("SELECT INBOX")
    assert b"* 7 EXISTS\r\n" in out, out

    # Flags and an expunge by another session, then a fresh SELECT.
    b.cmd("SELECT INBOX")
    b.cmd("UID STORE 1 +FLAGS (\\Seen)")
    b.cmd("UID STORE 4 +FLAGS (\\Deleted)")
    b.cmd("EXPUNGE")
    b.cmd("UNSELECT")
    a.cmd("UNSELECT")
    tagged, out = a.cmd("SELECT INBOX")
    assert b"* 6 EXISTS\r\n" in out, out
    tagged, out = a.cmd("UID FETCH 1:* (FLAGS)")
    uids = [int(ln.split(b"UID ")[1].split()[0]) for ln in out]
    assert uids == [1, 2, 3, 5, 6, 7], out
    assert b"\\Seen" in out[0]
    a.cmd("LOGOUT")
    b.cmd("LOGOUT")


def test_cached_view_after_restart_and_offline_deliver(imap_server):
    """`quire deliver` with the daemon stopped writes the store file
    itself; the restarted daemon's views start from the store."""
    for i in range(3):
        deliver(imap_server, "alice", make_message(i))
    a, out = login_select(imap_server)
    assert b"* 3 EXISTS\r\n" in out
    a.cmd("LOGOUT")
    imap_server.stop()
    msg = make_message(20).replace(b"\r\n", b"\n")
    r = subprocess.run([quire_cli(), "-c", imap_server.conf, "deliver",
                        "-u", "alice"], input=msg, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    imap_server.start(wait=("imap", "lmtp"))
    a, out = login_select(imap_server)
    assert b"* 4 EXISTS\r\n" in out, out
    a.cmd("LOGOUT")


def test_new_keyword_from_another_session_is_announced(imap_server):
    """RFC 9051 7.3.5: a keyword another session created reaches this
    session as an untagged FLAGS (and PERMANENTFLAGS) before the FETCH
    that shows it, without a reselect."""
    import imaplib
    deliver(imap_server, "alice", make_message(0))
    a = imaplib.IMAP4("127.0.0.1", imap_server.ports["imap"], timeout=30)
    b = imaplib.IMAP4("127.0.0.1", imap_server.ports["imap"], timeout=30)
    for m in (a, b):
        m.login("alice", PW)
        m.select("INBOX")
    typ, _ = b.store("1", "+FLAGS", "($BrandNew)")
    assert typ == "OK"
    typ, _ = a.noop()
    assert typ == "OK"
    flags = a.untagged_responses.get("FLAGS", [])
    assert flags and b"$BrandNew" in flags[-1], a.untagged_responses
    fetch = a.untagged_responses.get("FETCH", [])
    assert fetch and b"$BrandNew" in fetch[-1], a.untagged_responses
    perm = a.untagged_responses.get("PERMANENTFLAGS", [])
    assert perm and b"$BrandNew" in perm[-1], a.untagged_responses
    a.logout()
    b.logout()


def test_new_keyword_announced_before_a_fetch_shows_it(imap_server):
    """The same when the first response to show the keyword is the
    session's own FETCH (the writer updated the shared view, so it
    shows the keyword before this session's next sync): FLAGS comes
    first (found by an independent client's consistency check)."""
    deliver(imap_server, "alice", make_message(0))
    deliver(imap_server, "alice", make_message(1))
    a, _ = login_select(imap_server)
    b, _ = login_select(imap_server)
    tagged, _ = b.cmd("STORE 2 +FLAGS.SILENT ($Unheard)")
    assert b"OK" in tagged
    tagged, out = a.cmd("FETCH 1:2 (FLAGS)")
    assert b"OK" in tagged
    flags_at = [i for i, ln in enumerate(out) if ln.startswith(b"* FLAGS (")]
    fetch_at = [i for i, ln in enumerate(out)
                if b"FETCH" in ln and b"$Unheard" in ln]
    assert flags_at and fetch_at, out
    assert b"$Unheard" in out[flags_at[0]], out
    assert flags_at[0] < fetch_at[0], out


def test_permanentflags_lists_keywords_and_examine_none(imap_server):
    """RFC 9051 7.1: PERMANENTFLAGS names the flags the session can
    change for good: every keyword of the mailbox and \\*. EXAMINE can
    change nothing, so its list is empty (RFC 9051 6.3.3's example)."""
    import imaplib
    deliver(imap_server, "alice", make_message(0))
    m = imaplib.IMAP4("127.0.0.1", imap_server.ports["imap"], timeout=30)
    m.login("alice", PW)
    m.select("INBOX")
    typ, _ = m.store("1", "+FLAGS", "($Kept)")
    assert typ == "OK"
    m.close()
    m.select("INBOX")
    flags = m.untagged_responses["FLAGS"][-1]
    perm = m.untagged_responses["PERMANENTFLAGS"][-1]
    assert b"$Kept" in flags and b"$Kept" in perm, m.untagged_responses
    assert perm.endswith(b"\\*)"), perm
    m.close()
    m.select("INBOX", readonly=True)
    assert m.untagged_responses["PERMANENTFLAGS"][-1] == b"()", \
        m.untagged_responses
    assert b"$Kept" in m.untagged_responses["FLAGS"][-1]
    m.logout()
