"""LMTP delivery (RFC 2033) over TCP and a Unix socket, `quire deliver`,
and durability: what got a 250 survives a SIGKILL, exactly once."""

import hashlib
import os
import poplib
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from helpers import LMTP, make_message, dot_stuff

PASSWORD = "pw-for-tests"


@pytest.fixture
def srv(server):
    for u in ("alice", "bob"):
        server.add_user(u, PASSWORD)
    server.start()
    return server


def pop_all(srv, user):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    p.user(user)
    p.pass_(PASSWORD)
    out = []
    for i in range(p.stat()[0]):
        out.append(b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n")
    p.quit()
    return out


def test_lhlo_capabilities(srv):
    c = LMTP(srv.ports["lmtp"])
    assert c.greeting[0] == 220
    code, caps = c.cmd("LHLO client.example.org")
    assert code == 250
    names = [x.split()[0] for x in caps[1:]]
    for cap in (b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME",
                b"SIZE"):
        assert cap in names, caps
    assert c.cmd("HELO x")[0] == 500
    c.close()


def test_smtplib_lmtp_single_recipient(srv):
    msg = make_message(1)
    s = smtplib.LMTP("127.0.0.1", srv.ports["lmtp"])
    s.sendmail("sender@example.org", ["alice@example.org"], msg)
    s.quit()
    got = pop_all(srv, "alice")
    assert len(got) == 1 and got[0].endswith(msg)


def test_per_recipient_replies(srv):
    msg = make_message(2)
    c = LMTP(srv.ports["lmtp"])
    c.cmd("LHLO x")
    assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    code, text = c.cmd("RCPT TO:<nobody@example.org>")
    assert code == 550 and text[0].startswith(b"5.1.1")
    assert c.cmd("RCPT TO:<bob+lists@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(dot_stuff(msg))
    r1, r2 = c.reply(), c.reply()
    assert r1[0] == 250 and b"alice" in r1[1][0]
    assert r2[0] == 250 and b"bob" in r2[1][0]
    assert c.cmd("NOOP")[0] == 250
    c.close()
    assert pop_all(srv, "alice")[0].endswith(msg)
    assert pop_all(srv, "bob")[0].endswith(msg)


def test_pipelined_transaction(srv):
    msg = make_message(3)
    c = LMTP(srv.ports["lmtp"])
    c.send(b"LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\n"
           b"RCPT TO:<bob>\r\nDATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    c.send(dot_stuff(msg) + b"QUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221


def test_unix_socket(srv):
    msg = make_message(4)
    c = LMTP(path=os.path.join(srv.data, "lmtp.sock"))
    c.cmd("LHLO x")
    assert c.deliver("s@x", ["alice"], msg) == [250]
    c.close()
    assert pop_all(srv, "alice")[0].endswith(msg)


def test_size_limits(server):
    server.extra_conf = "[lmtp]\nmax_message_size = 10K\n"
    server.write_conf()
    server.add_user("alice", PASSWORD)
    server.start()
    c = LMTP(server.ports["lmtp"])
    c.cmd("LHLO x")
    code, text = c.cmd("MAIL FROM:<s@x> SIZE=20000")
    assert code == 552
    big = make_message(5, body_lines=[b"y" * 100] * 200)
    assert c.deliver("s@x", ["alice"], big) == [552]
    # The session goes on and a small message still gets through.
    assert c.deliver("s@x", ["alice"], make_message(6)) == [250]
    c.close()
    assert len(pop_all(server, "alice")) == 1


def test_client_vanishes_mid_data(srv):
    c = LMTP(srv.ports["lmtp"])
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<alice>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: half\r\n\r\nonly part of it\r\n")
    c.sock.close()
    time.sleep(0.3)
    assert pop_all(srv, "alice") == []
    assert os.listdir(os.path.join(srv.data, "tmp")) == []


def test_bad_commands(srv):
    c = LMTP(srv.ports["lmtp"])
    c.cmd("LHLO x")
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("RCPT TO:<alice>")[0] == 503
    assert c.cmd("MAIL FROM:garbage")[0] == 501
    assert c.cmd("XYZZY")[0] == 500
    c.send(b"A" * 10000 + b"\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("RSET")[0] == 250
    assert c.deliver("s@x", ["alice"], make_message(8)) == [250]
    c.close()


def test_quire_deliver_running_and_stopped(srv):
    msg = make_message(9).replace(b"\r\n", b"\n")
    r = subprocess.run([srv_quire(), "-c", srv.conf, "deliver", "-u",
                        "alice", "-f", "s@example.org"], input=msg,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([srv_quire(), "-c", srv.conf, "deliver", "-u",
                        "nobody"], input=msg, capture_output=True,
                       timeout=30)
    assert r.returncode == 67
    srv.stop()
    r = subprocess.run([srv_quire(), "-c", srv.conf, "deliver", "-u",
                        "alice"], input=msg, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    srv.start()
    got = pop_all(srv, "alice")
    assert len(got) == 2
    for g in got:
        assert g.endswith(msg.replace(b"\n", b"\r\n"))
    assert got[0].startswith(b"Return-Path: <s@example.org>\r\n")


def srv_quire():
    from conftest import QUIRE
    return QUIRE


def test_sigkill_durability(srv):
    """Deliver in a loop from two clients, SIGKILL quired in the middle,
    restart: every message that got 250 is there exactly once and whole;
    nothing else is there but whole messages."""
    acked = set()
    stop = threading.Event()
    lock = threading.Lock()

    def sender(base):
        n = base
        try:
            c = LMTP(srv.ports["lmtp"], timeout=10)
            c.cmd("LHLO x")
            while not stop.is_set() and n < base + 5000:
                msg = make_message(n, body_lines=[b"body of %d" % n] * 50)
                if c.deliver("s@x", ["alice"], msg) == [250]:
                    with lock:
                        acked.add(n)
                n += 1
        except (OSError, EOFError, AssertionError):
            pass

    threads = [threading.Thread(target=sender, args=(b,))
               for b in (0, 100000)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 10
    srv.stop()
    srv.start()
    got = pop_all(srv, "alice")
    seen = {}
    for g in got:
        m = re.search(rb"Message-ID: <msg-(\d+)@", g)
        assert m, g[:300]
        n = int(m.group(1))
        seen[n] = seen.get(n, 0) + 1
        assert g.endswith(make_message(n, body_lines=[b"body of %d" % n]
                                       * 50))
    assert all(v == 1 for v in seen.values())
    missing = acked - set(seen)
    assert not missing, sorted(missing)[:10]


def test_one_session_big_then_small(srv):
    """A session reuses its spool file: a small message after a large one
    is stored byte for byte, nothing of the first left in it."""
    big = make_message(20, body_lines=[b"B" * 200] * 2000)
    small = make_message(21)
    c = LMTP(srv.ports["lmtp"])
    c.cmd("LHLO x")
    assert c.deliver("s@x", ["alice"], big) == [250]
    assert c.deliver("s@x", ["alice"], small) == [250]
    assert c.deliver("s@x", ["alice"], big) == [250]
    c.close()
    got = pop_all(srv, "alice")
    assert [len(g) > len(m) and g.endswith(m)
            for g, m in zip(got, (big, small, big))] == [True] * 3
    assert len(got[1]) < 1000
