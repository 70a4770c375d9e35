"""POP3 over real sockets with Python's poplib: mail delivered over LMTP
comes back byte for byte, over plain, STLS and implicit TLS; DELE is
applied at QUIT only; UIDL is stable; logins are checked and throttled."""

import base64
import poplib
import socket
import time

import pytest

from helpers import LMTP, make_message, scram_client, tls_context

PASSWORD = "correct horse battery"


@pytest.fixture
def srv(server):
    server.add_user("alice", PASSWORD)
    server.add_user("bob", "bob-secret")
    server.start()
    return server


def deliver(srv, rcpt, msgs):
    c = LMTP(srv.ports["lmtp"])
    c.cmd("LHLO test")
    for m in msgs:
        assert c.deliver("sender@example.org", [rcpt], m) == [250]
    c.close()


def login(srv, user="alice", password=PASSWORD):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    p.user(user)
    p.pass_(password)
    return p


def retr_bytes(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n"


def stored_form(msg, rcpt="alice"):
    return msg  # the body; headers are prepended by delivery


def test_capa(srv):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    caps = p.capa()
    for c in ("TOP", "USER", "SASL", "RESP-CODES", "PIPELINING", "UIDL",
              "STLS", "EXPIRE", "IMPLEMENTATION", "AUTH-RESP-CODE"):
        assert c in caps, caps
    assert "PLAIN" in caps["SASL"] and "SCRAM-SHA-256" in caps["SASL"]
    p.quit()


def test_lmtp_to_pop3_byte_identical(srv):
    msgs = [make_message(i) for i in range(3)]
    deliver(srv, "alice@example.org", msgs)
    p = login(srv)
    count, size = p.stat()
    assert count == 3
    listing = p.list()[1]
    assert len(listing) == 3
    for i, m in enumerate(msgs):
        got = retr_bytes(p, i + 1)
        # Delivery adds Return-Path and Delivered-To at the top.
        assert got.endswith(m), got
        assert got.startswith(b"Return-Path: <sender@example.org>\r\n")
        assert b"Delivered-To: <alice@example.org>\r\n" in got[:200] or \
            b"Delivered-To: alice@example.org\r\n" in got[:200]
        num, octets = listing[i].split()
        assert int(octets) == len(got)
    assert sum(int(l.split()[1]) for l in listing) == size
    p.quit()


def test_stls_and_implicit_tls(srv):
    msg = make_message(7)
    deliver(srv, "alice", [msg])
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    p.stls(context=tls_context())
    p.user("alice")
    p.pass_(PASSWORD)
    assert retr_bytes(p, 1).endswith(msg)
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], timeout=30,
                        context=tls_context())
    assert "STLS" not in p.capa()
    p.user("alice")
    p.pass_(PASSWORD)
    assert retr_bytes(p, 1).endswith(msg)
    p.quit()


def test_dele_applied_at_quit_only(srv):
    deliver(srv, "alice", [make_message(i) for i in range(3)])
    p = login(srv)
    p.dele(1)
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    # The connection drops without QUIT: nothing is removed.
    p.close()
    time.sleep(0.3)
    p = login(srv)
    assert p.stat()[0] == 3
    uidls = p.uidl()[1]
    p.dele(2)
    p.rset()
    p.dele(1)
    p.quit()
    p = login(srv)
    assert p.stat()[0] == 2
    # UIDL values stay those of the same messages.
    assert p.uidl()[1][0].split()[1] == uidls[1].split()[1]
    p.quit()


def test_uidl_stable_across_restart(srv):
    deliver(srv, "alice", [make_message(i) for i in range(2)])
    p = login(srv)
    before = [l.split()[1] for l in p.uidl()[1]]
    p.quit()
    assert len(set(before)) == 2
    srv.stop()
    srv.start()
    p = login(srv)
    after = [l.split()[1] for l in p.uidl()[1]]
    assert before == after
    assert p.uidl(1).split()[2] == before[0]
    p.quit()


def test_top(srv):
    body = [b"line %d" % i for i in range(10)]
    msg = make_message(1, body_lines=body)
    deliver(srv, "alice", [msg])
    p = login(srv)
    resp, lines, _ = p.top(1, 2)
    text = b"\r\n".join(lines)
    assert b"Subject: test message 1" in text
    assert text.endswith(b"\r\n\r\nline 0\r\nline 1")
    p.quit()


def test_bad_password_and_tries(srv):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=60)
    p.user("alice")
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("wrong")
    assert b"[AUTH]" in e.value.args[0]
    p.user("alice")
    with pytest.raises(poplib.error_proto):
        p.pass_("wrong again")
    p.user("nobody")
    with pytest.raises(poplib.error_proto):
        p.pass_("x")
    # The third failure closes the connection.
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        p.user("alice")
        p.pass_(PASSWORD)


def test_auth_plain_initial_response(srv):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    ir = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    assert p._shortcmd("AUTH PLAIN " + ir).startswith(b"+OK")
    assert p.stat()[0] == 0
    p.quit()


def test_auth_scram_sha256(server):
    server.add_user("carol", "pencil", scheme="SCRAM-SHA-256")
    server.start()
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
    state = {"first": True}

    def exchange(data):
        b64 = base64.b64encode(data).decode()
        if state["first"]:
            state["first"] = False
            p._putcmd("AUTH SCRAM-SHA-256 " + b64)
        else:
            p._putcmd(b64)
        line, _ = p._getline()
        assert line.startswith(b"+ "), line
        return base64.b64decode(line[2:])

    scram_client("carol", "pencil", exchange)
    p._putcmd("")
    assert p._getresp().startswith(b"+OK")
    assert p.stat()[0] == 0
    p.quit()


def test_in_use(srv):
    p = login(srv)
    q = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    q.user("alice")
    with pytest.raises(poplib.error_proto) as e:
        q.pass_(PASSWORD)
    assert b"[IN-USE]" in e.value.args[0]
    p.quit()
    q.close()


def test_long_line_and_garbage(srv):
    s = socket.create_connection(("127.0.0.1", srv.ports["pop3"]),
                                 timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"X" * 20000 + b"\r\n")
    assert f.readline().startswith(b"-ERR")
    s.sendall(b"\x00\xff\xfe garbage\r\n")
    assert f.readline().startswith(b"-ERR")
    s.sendall(b"NOOP\r\n")
    assert f.readline().startswith(b"-ERR")  # not in TRANSACTION state
    s.sendall(b"CAPA\r\n")
    assert f.readline().startswith(b"+OK")
    s.close()


def test_pipelining(srv):
    deliver(srv, "alice", [make_message(i) for i in range(2)])
    s = socket.create_connection(("127.0.0.1", srv.ports["pop3"]),
                                 timeout=30)
    f = s.makefile("rb")
    f.readline()
    s.sendall(("USER alice\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nNOOP\r\n"
               "QUIT\r\n" % PASSWORD).encode())
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK 2 ")
    assert f.readline().startswith(b"+OK")
    while f.readline() != b".\r\n":
        pass
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK")
    s.close()


def test_large_message_streams(srv):
    big = make_message(1, body_lines=[b"%07d " % i + b"x" * 90
                                      for i in range(40000)])
    deliver(srv, "alice", [big])
    p = login(srv)
    assert retr_bytes(p, 1).endswith(big)
    p.quit()


def test_expire_days(tmp_path):
    from conftest import Server
    srv = Server(tmp_path, extra_conf="")
    srv.extra_conf = ""
    srv.write_conf()
    with open(srv.conf, "a") as f:
        f.write("[pop3]\nexpire_days = 0\n")
    srv.add_user("alice", PASSWORD)
    srv.start()
    try:
        deliver(srv, "alice", [make_message(i) for i in range(2)])
        p = login(srv)
        assert "EXPIRE" in p.capa()
        p.retr(1)
        p.quit()
        time.sleep(1.1)
        p = login(srv)
        # Message 1 was retrieved more than 0 days ago: it is gone.
        assert p.stat()[0] == 1
        p.quit()
    finally:
        srv.stop()


def test_retr_marks_seen_at_quit_in_one_store(srv):
    """RETR's \\Seen is one store with IMAP: it shows in an IMAP session
    once the POP3 session QUITs; a session that drops without QUIT
    changes nothing (RFC 1939 6), as Dovecot does."""
    import imaplib
    deliver(srv, "alice", [make_message(i) for i in range(2)])
    p = login(srv)
    p.retr(1)
    p.close()  # no QUIT
    time.sleep(0.3)
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    m.login("alice", PASSWORD)
    m.select("INBOX", readonly=True)
    assert b"\\Seen" not in m.fetch("1", "(FLAGS)")[1][0]
    p = login(srv)
    p.retr(1)
    p.dele(2)
    p.quit()
    m.noop()
    flags = m.fetch("1", "(FLAGS)")[1][0]
    assert b"\\Seen" in flags, flags
    typ, data = m.search(None, "ALL")
    assert data[0].split() == [b"1"]
    m.logout()
