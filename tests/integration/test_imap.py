"""IMAP over real sockets with Python's imaplib: login, capabilities,
mailbox management, LIST, STATUS."""

import imaplib
import socket

import pytest

from helpers import LMTP, make_message

PW = "secret-pw-1"


@pytest.fixture
def imap_server(server):
    server.add_user("alice", PW)
    server.add_user("bob", PW)
    server.add_user("carol", PW, scheme="SCRAM-SHA-256")
    server.start(wait=("imap", "lmtp"))
    return server


def connect(server, user="alice", login=True):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    if login:
        m.login(user, PW)
    return m


def deliver(server, user, msg):
    lm = LMTP(port=server.ports["lmtp"])
    lm.cmd("LHLO test")
    codes = lm.deliver("sender@example.org", [user], msg)
    assert codes == [250], codes
    lm.cmd("QUIT")


def raw(server):
    s = socket.create_connection(("127.0.0.1", server.ports["imap"]),
                                 timeout=10)
    f = s.makefile("rb")
    return s, f


def test_greeting_and_capability(imap_server):
    s, f = raw(imap_server)
    greet = f.readline()
    assert greet.startswith(b"* OK [CAPABILITY ")
    assert b"IMAP4rev2" in greet and b"IMAP4rev1" in greet
    assert b"AUTH=PLAIN" in greet and b"quire ready" in greet
    s.sendall(b"a1 CAPABILITY\r\n")
    assert f.readline().startswith(b"* CAPABILITY IMAP4rev1")
    assert f.readline() == b"a1 OK Capability completed.\r\n"
    s.sendall(b"a2 NOOP\r\n")
    assert f.readline() == b"a2 OK NOOP completed.\r\n"
    s.sendall(b"a3 SELECT INBOX\r\n")
    assert f.readline().startswith(b"a3 BAD")
    s.sendall(b"a4 FOO\r\n")
    assert f.readline().startswith(b"a4 BAD")
    s.sendall(b"(bad\r\n")
    assert f.readline().startswith(b"* BAD")
    s.sendall(b"a5 LOGOUT\r\n")
    assert f.readline().startswith(b"* BYE")
    assert f.readline() == b"a5 OK Logout completed.\r\n"
    assert f.readline() == b""
    s.close()


def test_login_ok_and_fail(imap_server):
    m = connect(imap_server, login=False)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice", "wrong")
    typ, data = m.login("alice", PW)
    assert typ == "OK"
    assert m.state == "AUTH"
    typ, data = m.logout()
    assert typ == "BYE"


def test_authenticate_plain_sasl_ir_and_literal(imap_server):
    s, f = raw(imap_server)
    f.readline()
    import base64
    ir = base64.b64encode(b"\0alice\0" + PW.encode())
    s.sendall(b"a1 AUTHENTICATE PLAIN " + ir + b"\r\n")
    line = f.readline()
    assert line.startswith(b"a1 OK [CAPABILITY "), line
    s.close()
    s, f = raw(imap_server)
    f.readline()
    s.sendall(b"a1 AUTHENTICATE PLAIN\r\n")
    assert f.readline() == b"+ \r\n"
    s.sendall(ir + b"\r\n")
    assert f.readline().startswith(b"a1 OK")
    # A synchronising literal gets "+" first.
    s.sendall(b"a2 CREATE {4}\r\n")
    assert f.readline().startswith(b"+ ")
    s.sendall(b"lit1\r\n")
    line = f.readline()
    # RFC 8474 4.1: the OK carries the new mailbox's [MAILBOXID (...)].
    assert line.startswith(b"a2 OK [MAILBOXID (F"), line
    assert line.endswith(b"] CREATE completed.\r\n"), line
    s.close()


def test_three_failures_bye(imap_server):
    s, f = raw(imap_server)
    f.readline()
    for i in range(3):
        s.sendall(b"a%d LOGIN alice wrong\r\n" % i)
        line = f.readline()
        assert line.startswith(b"a%d NO [AUTHENTICATIONFAILED]" % i), line
    assert f.readline().startswith(b"* BYE")
    assert f.readline() == b""


def test_default_folders_and_list(imap_server):
    m = connect(imap_server)
    typ, data = m.list()
    assert typ == "OK"
    names = {}
    for line in data:
        attrs, _, name = line.decode().partition(') "/" ')
        names[name.strip('"')] = attrs
    for box, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
                     ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                     ("Archive", "\\Archive")):
        assert box in names
        assert use in names[box]
    assert "INBOX" in names
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    m.logout()


def test_create_rename_delete_status(imap_server):
    m = connect(imap_server)
    assert m.create("a/b/c")[0] == "OK"
    assert m.create("trail/")[0] == "OK"
    typ, data = m.list("\"\"", "a/%")
    assert data == [b'(\\HasChildren) "/" "a/b"']
    typ, data = m.list("\"\"", "a*")
    assert [d.split(b'"/" ')[1] for d in data] == [b'"a"', b'"a/b"', b'"a/b/c"']
    assert m.create("a")[0] == "NO"
    assert m.rename("a", "x")[0] == "OK"
    typ, data = m.list("\"\"", "x*")
    assert len(data) == 3
    typ, data = m.list("x/", "%")
    assert data == [b'(\\HasChildren) "/" "x/b"']
    assert m.delete("x/b/c")[0] == "OK"
    assert m.delete("nonexistent")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    typ, data = m.status("x", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN "
                         "DELETED SIZE RECENT)")
    assert typ == "OK"
    assert b"MESSAGES 0" in data[0] and b"UIDNEXT 1" in data[0]
    assert b"SIZE 0" in data[0]
    assert m.status("nope", "(MESSAGES)")[0] == "NO"
    # Modified UTF-7 names round-trip.
    assert m.create("K&AOQ-se")[0] == "OK"
    typ, data = m.list("\"\"", "K*")
    assert data == [b'(\\HasNoChildren) "/" "K&AOQ-se"']
    m.logout()


def test_subscribe_lsub_list_extended(imap_server):
    m = connect(imap_server)
    m.create("p/q")
    assert m.subscribe("p/q")[0] == "OK"
    typ, data = m.lsub("\"\"", "*")
    names = [d.split(b'"/" ')[1] for d in data]
    assert b'"p/q"' in names and b'"INBOX"' in names
    typ, data = m._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)",
                                  '""', "p")
    typ, data = m._untagged_response(typ, data, "LIST")
    assert data == [b'(\\HasChildren) "/" "p" ("CHILDINFO" ("SUBSCRIBED"))']
    typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    typ, data = m._untagged_response(typ, data, "LIST")
    assert len(data) == 5
    typ, data = m._simple_command("LIST", '""', "INBOX", "RETURN",
                                  "(STATUS (MESSAGES UNSEEN))")
    assert typ == "OK"
    assert m.untagged_responses.get("STATUS") == \
        [b'"INBOX" (MESSAGES 0 UNSEEN 0)']
    m.logout()


def test_enable_utf8_names(imap_server):
    m = connect(imap_server)
    m.create("K&AOQ-se")
    typ, data = m._simple_command("ENABLE", "UTF8=ACCEPT")
    assert typ == "OK"
    assert m.untagged_responses.pop("ENABLED") == [b"UTF8=ACCEPT"]
    typ, data = m.list('""', "K*")
    assert data == ['(\\HasNoChildren) "/" "Käse"'.encode()]
    typ, data = m.xatom("ID", "NIL")
    assert typ == "OK"
    assert m.untagged_responses.pop("ID")[0].startswith(
        b'("name" "quire" "version" ')
    m.logout()


def test_select_delivered(imap_server):
    deliver(imap_server, "alice", make_message(1))
    deliver(imap_server, "alice", make_message(2))
    m = connect(imap_server)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    assert m.untagged_responses.get("UIDVALIDITY")
    assert m.untagged_responses.get("UIDNEXT") == [b"3"]
    assert m.untagged_responses.get("UNSEEN") == [b"1"]
    assert m.untagged_responses.get("READ-WRITE") == [b""]
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    assert m.untagged_responses.get("READ-ONLY") == [b""]
    m.close()
    m.logout()


def test_authenticate_scram(imap_server):
    import base64
    from helpers import scram_client
    s, f = raw(imap_server)
    f.readline()
    s.sendall(b"a1 AUTHENTICATE SCRAM-SHA-256\r\n")
    assert f.readline() == b"+ \r\n"

    def exchange(msg):
        s.sendall(base64.b64encode(msg) + b"\r\n")
        line = f.readline()
        assert line.startswith(b"+ "), line
        return base64.b64decode(line[2:].strip())

    scram_client("carol", PW, exchange)
    s.sendall(b"\r\n")
    assert f.readline().startswith(b"a1 OK [CAPABILITY")
    s.close()


def test_starttls_and_imaps(imap_server):
    from helpers import tls_context
    m = imaplib.IMAP4("127.0.0.1", imap_server.ports["imap"], timeout=30)
    assert "STARTTLS" in m.capabilities
    m.starttls(ssl_context=tls_context())
    assert "STARTTLS" not in m.capabilities
    assert m.login("alice", PW)[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", imap_server.ports["imaps"],
                          ssl_context=tls_context(), timeout=30)
    assert m.login("alice", PW)[0] == "OK"
    m.logout()


def _starttls_raw(server, ctx, session=None):
    """A STARTTLS session by hand (imaplib sends CAPABILITY at once):
    the TLS socket right after the handshake."""
    raw = socket.create_connection(("127.0.0.1", server.ports["imap"]),
                                   timeout=30)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"* OK")
    raw.sendall(b"a STARTTLS\r\n")
    assert f.readline().startswith(b"a OK")
    return ctx.wrap_socket(raw, session=session)


def _tls_command(s, tag):
    s.sendall(tag + b" NOOP\r\n")
    data = b""
    while not (data.startswith(tag + b" OK") and data.endswith(b"\r\n")):
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk


def test_starttls_tickets_come_with_the_first_reply(imap_server):
    """After STARTTLS the client speaks first. TLS 1.3 session tickets
    sent right after the handshake meet its first command, and a client
    reading and writing one TLS object from two threads (offlineimap's
    imaplib2) then stalls; so they come with the first reply, and
    resumption still works."""
    import select
    import ssl
    from helpers import tls_context
    ctx = tls_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    s = _starttls_raw(imap_server, ctx)
    # nothing from the server until the client has said something
    assert s.pending() == 0
    assert select.select([s], [], [], 0.5)[0] == []
    _tls_command(s, b"b")
    session = s.session
    assert session is not None and session.has_ticket
    s.close()
    s = _starttls_raw(imap_server, ctx, session=session)
    _tls_command(s, b"c")
    assert s.session_reused
    s.close()


def test_rename_inbox(imap_server):
    deliver(imap_server, "alice", make_message(1))
    m = connect(imap_server)
    assert m.rename("INBOX", "Old")[0] == "OK"
    assert b"MESSAGES 1" in m.status("Old", "(MESSAGES)")[1][0]
    assert b"MESSAGES 0" in m.status("INBOX", "(MESSAGES)")[1][0]
    assert m.rename("Old", "Sent")[0] == "NO"
    m.logout()


def test_rev2_select(imap_server):
    deliver(imap_server, "alice", make_message(1))
    s, f = raw(imap_server)
    f.readline()
    s.sendall(b"a1 LOGIN alice " + PW.encode() + b"\r\n"
              b"a2 ENABLE IMAP4rev2\r\na3 SELECT INBOX\r\n")
    lines = []
    while True:
        line = f.readline()
        assert line
        lines.append(line)
        if line.startswith(b"a3 "):
            break
    assert b"* ENABLED IMAP4rev2\r\n" in lines
    assert not any(b"RECENT" in x for x in lines)
    assert not any(b"UNSEEN" in x for x in lines)
    assert b'* LIST () "/" "INBOX"\r\n' in lines
    s.close()


def test_big_message_streams(imap_server):
    body = [b"%07d " % i + b"x" * 90 for i in range(60000)]
    msg = make_message(5, body_lines=body)
    assert len(msg) > 5 * 1024 * 1024
    for _ in range(2):
        deliver(imap_server, "alice", msg)
    m = connect(imap_server)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(BODY.PEEK[TEXT])")
    texts = [d[1] for d in data if isinstance(d, tuple)]
    assert len(texts) == 2
    assert all(t == b"\r\n".join(body) + b"\r\n" for t in texts)
    m.logout()
    # The same over TLS, where file ranges are read as they are sent.
    from helpers import tls_context
    m = imaplib.IMAP4_SSL("127.0.0.1", imap_server.ports["imaps"],
                          ssl_context=tls_context(), timeout=30)
    m.login("alice", PW)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:2", "(BODY.PEEK[] BODY.PEEK[TEXT]<100.50>)")
    parts = [d[1] for d in data if isinstance(d, tuple)]
    assert len(parts) == 4
    assert parts[0].endswith(msg) and parts[2].endswith(msg)
    assert parts[1] == (b"\r\n".join(body) + b"\r\n")[100:150]
    m.logout()


def test_shutdown_says_bye(imap_server):
    s, f = raw(imap_server)
    f.readline()
    s.sendall(b"a1 LOGIN alice " + PW.encode() + b"\r\n")
    assert f.readline().startswith(b"a1 OK")
    imap_server.stop()
    assert f.readline() == b"* BYE Server shutting down\r\n"
    assert f.readline() == b""


def test_logindisabled_until_tls(tmp_path):
    from conftest import Server
    from helpers import tls_context
    srv = Server(tmp_path, extra_conf="[auth]\nallow_plaintext = never\n")
    srv.add_user("alice", PW)
    srv.start(wait=("imap",))
    try:
        m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
        assert "LOGINDISABLED" in m.capabilities
        assert "AUTH=PLAIN" not in m.capabilities
        assert "AUTH=SCRAM-SHA-256" in m.capabilities
        typ, data = m._simple_command("LOGIN", "alice", PW)
        assert typ == "NO" and b"PRIVACYREQUIRED" in data[-1]
        m.starttls(ssl_context=tls_context())
        assert "LOGINDISABLED" not in m.capabilities
        assert "AUTH=PLAIN" in m.capabilities
        assert m.login("alice", PW)[0] == "OK"
        m.logout()
    finally:
        assert srv.stop() in (0, None)


def test_client_leaves_during_password_check(imap_server):
    """Password checks run off the event loop; a client that sends LOGIN or
    AUTHENTICATE and vanishes before the answer leaves nothing behind, and
    the server goes on serving (the fixture fails on sanitizer reports)."""
    import base64
    for i in range(20):
        s = socket.create_connection(("127.0.0.1",
                                      imap_server.ports["imap"]), timeout=10)
        s.recv(4096)
        if i % 2:
            s.sendall(b"a LOGIN alice wrong-password\r\n")
        else:
            ir = base64.b64encode(b"\0alice\0wrong").decode()
            s.sendall(("a AUTHENTICATE PLAIN %s\r\n" % ir).encode())
        s.close()
    m = connect(imap_server)
    assert m.noop()[0] == "OK"
    m.logout()


def test_pipelined_after_login_waits_for_it(imap_server):
    """Commands pipelined behind LOGIN run after the (off-loop) check."""
    s = socket.create_connection(("127.0.0.1", imap_server.ports["imap"]),
                                 timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice " + PW.encode() +
              b"\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
    tags = []
    while True:
        line = f.readline()
        if not line:
            break
        if line[:1] in b"abc" and line[1:2] == b" ":
            tags.append(line.split()[:2])
    assert tags == [[b"a", b"OK"], [b"b", b"OK"], [b"c", b"OK"]], tags
    s.close()
