"""UNAUTHENTICATE (RFC 8437): back to the not-authenticated state on the
same connection, then a login as someone else sees only that user's mail;
nothing of the first user changes or lingers."""

from helpers import make_message
from test_imap import PW, deliver, imap_server  # noqa: F401
from test_imap_push import Raw


def status(tagged):
    return tagged.split(b" ")[1]


def test_unauthenticate_then_other_user(imap_server):
    deliver(imap_server, "alice", make_message(1, subject="for alice 1"))
    deliver(imap_server, "alice", make_message(2, subject="for alice 2"))
    deliver(imap_server, "bob", make_message(3, subject="for bob"))

    c = Raw(imap_server)
    _, out = c.cmd("CAPABILITY")
    assert b"UNAUTHENTICATE" not in out[0]
    tagged, _ = c.cmd("UNAUTHENTICATE")
    assert status(tagged) == b"BAD"
    assert status(c.cmd("LOGIN alice %s" % PW)[0]) == b"OK"
    _, out = c.cmd("CAPABILITY")
    assert b" UNAUTHENTICATE" in out[0]
    assert status(c.cmd("ENABLE CONDSTORE")[0]) == b"OK"
    tagged, out = c.cmd("SELECT INBOX")
    assert b"* 2 EXISTS\r\n" in out
    # Marked for deletion but not expunged: UNAUTHENTICATE must not
    # expunge (it closes like UNSELECT, not CLOSE).
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted $AliceWord)")
    c.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)")
    tagged, _ = c.cmd("UNAUTHENTICATE extra")
    assert status(tagged) == b"BAD"
    tagged, out = c.cmd("UNAUTHENTICATE")
    assert status(tagged) == b"OK"
    # Nothing about alice's mailbox comes with or after the OK.
    assert out == []

    # Not authenticated again.
    _, out = c.cmd("CAPABILITY")
    assert b"UNAUTHENTICATE" not in out[0] and b"AUTH=PLAIN" in out[0]
    assert status(c.cmd("SELECT INBOX")[0]) == b"BAD"
    assert status(c.cmd("FETCH 1 (FLAGS)")[0]) == b"BAD"
    assert status(c.cmd("LIST \"\" *")[0]) == b"BAD"

    assert status(c.cmd("LOGIN bob %s" % PW)[0]) == b"OK"
    tagged, out = c.cmd("SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in out
    # No MODSEQ: alice's ENABLE CONDSTORE did not carry over; no
    # keyword of alice's in bob's FLAGS.
    flags = [ln for ln in out if ln.startswith(b"* FLAGS")][0]
    assert b"$AliceWord" not in flags
    tagged, out = c.cmd("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS "
                        "(SUBJECT)])")
    text = b"".join(out)
    assert text.count(b" FETCH (") == 1
    assert b"for bob" in text and b"MODSEQ" not in text
    assert b"for alice" not in text
    tagged, out = c.cmd("LIST \"\" *")
    assert status(tagged) == b"OK"
    c.cmd("LOGOUT")

    # alice's mail is as she left it.
    a = Raw(imap_server)
    a.cmd("LOGIN alice %s" % PW)
    tagged, out = a.cmd("EXAMINE INBOX")
    assert b"* 2 EXISTS\r\n" in out
    tagged, out = a.cmd("FETCH 1:2 (FLAGS)")
    assert b"\\Deleted" in out[0] and b"$AliceWord" in out[0]
    assert b"\\Flagged" in out[1]
    a.cmd("LOGOUT")

    log = imap_server.log()
    assert "unauthenticate: " in log


def test_idle_of_same_user_unaffected(imap_server):
    deliver(imap_server, "alice", make_message(1))
    idler = Raw(imap_server)
    idler.cmd("LOGIN alice %s" % PW)
    idler.cmd("SELECT INBOX")
    idler.send("i1 IDLE")
    assert idler.readline().startswith(b"+ ")

    c = Raw(imap_server)
    c.cmd("LOGIN alice %s" % PW)
    c.cmd("SELECT INBOX")
    assert status(c.cmd("UNAUTHENTICATE")[0]) == b"OK"
    # The same connection logs in as alice again and changes a flag:
    # the IDLE session hears of it as before.
    assert status(c.cmd("LOGIN alice %s" % PW)[0]) == b"OK"
    c.cmd("SELECT INBOX")
    c.cmd("STORE 1 +FLAGS (\\Answered)")
    idler.s.settimeout(5)
    line = idler.readline()
    assert line.startswith(b"* 1 FETCH (") and b"\\Answered" in line
    # And a delivery.
    assert status(c.cmd("UNAUTHENTICATE")[0]) == b"OK"
    deliver(imap_server, "alice", make_message(2))
    assert idler.readline() == b"* 2 EXISTS\r\n"
    idler.send("DONE")
    line = idler.readline()
    while not line.startswith(b"i1 "):
        line = idler.readline()
    assert line.startswith(b"i1 OK")
    idler.cmd("LOGOUT")


def test_repeated_cycles(imap_server):
    """Many login / select / unauthenticate rounds on one connection
    (each drops the user's store reference and watch)."""
    deliver(imap_server, "alice", make_message(1))
    c = Raw(imap_server)
    for i in range(30):
        user = "alice" if i % 2 == 0 else "bob"
        assert status(c.cmd("LOGIN %s %s" % (user, PW))[0]) == b"OK"
        tagged, out = c.cmd("SELECT INBOX")
        exists = [ln for ln in out if ln.endswith(b" EXISTS\r\n")][0]
        assert exists == (b"* 1 EXISTS\r\n" if user == "alice"
                          else b"* 0 EXISTS\r\n")
        assert status(c.cmd("UNAUTHENTICATE")[0]) == b"OK"
    # A wrong password after all that is still a failure.
    tagged, _ = c.cmd("LOGIN alice wrong")
    assert status(tagged) == b"NO"
    c.cmd("LOGOUT")


def test_unauthenticate_ends_notify(imap_server):
    """NOTIFY belongs to the user: after UNAUTHENTICATE and a login as
    someone else, a delivery to the first user sends nothing."""
    c = Raw(imap_server)
    assert status(c.cmd("LOGIN alice %s" % PW)[0]) == b"OK"
    tagged, _ = c.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
    assert status(tagged) == b"OK"
    deliver(imap_server, "alice", make_message(1, subject="seen"))
    _, out = c.cmd("NOOP")
    assert any(b"* STATUS" in ln for ln in out), out
    assert status(c.cmd("UNAUTHENTICATE")[0]) == b"OK"
    assert status(c.cmd("LOGIN bob %s" % PW)[0]) == b"OK"
    deliver(imap_server, "alice", make_message(2, subject="not seen"))
    _, out = c.cmd("NOOP")
    assert not any(b"STATUS" in ln for ln in out), out
    tagged, out = c.cmd("LIST \"\" INBOX")
    assert status(tagged) == b"OK"
    assert not any(b"STATUS" in ln for ln in out), out
