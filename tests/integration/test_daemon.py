"""The daemon and the admin command: users added or changed log in at
once, SIGHUP keeps connections, SIGTERM exits cleanly, bad TLS settings
stop startup with the file, line and key."""

import os
import poplib
import signal
import subprocess
import time

import pytest

from helpers import LMTP

from conftest import QUIRED, wait_port


def can_login(srv, user, password):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        p.quit()
        return True
    except poplib.error_proto:
        p.close()
        return False


def test_user_add_passwd_del_without_restart(server):
    server.start()
    assert not can_login(server, "dave", "first-pw")
    server.add_user("dave", "first-pw")
    assert can_login(server, "dave", "first-pw")
    r = server.cli("user", "passwd", "dave", "--password-stdin",
                   input=b"second-pw\n")
    assert r.returncode == 0
    assert can_login(server, "dave", "second-pw")
    assert not can_login(server, "dave", "first-pw")
    assert server.cli("user", "list").stdout.split() == [b"dave"]
    server.cli("user", "del", "dave")
    assert not can_login(server, "dave", "second-pw")
    assert server.cli("user", "list").stdout.split() == []


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "SHA256-CRYPT",
                                    "BLF-CRYPT", "CRYPT", "ARGON2ID",
                                    "ARGON2I", "SCRAM-SHA-256", "PLAIN"])
def test_every_scheme_logs_in(server, scheme):
    server.add_user("u1", "pass-" + scheme, scheme=scheme)
    server.start()
    assert can_login(server, "u1", "pass-" + scheme)
    assert not can_login(server, "u1", "wrong")


def test_dovecot_passwd_file_lines(server):
    # Lines as Dovecot's tools write them, with extra fields.
    import crypt
    h = crypt.crypt("dove-pw", crypt.mksalt(crypt.METHOD_SHA512))
    os.makedirs(server.data, exist_ok=True)
    with open(os.path.join(server.data, "passwd"), "w") as f:
        f.write("# a comment\n")
        f.write("erin:{SHA512-CRYPT}%s:1000:1000::/home/erin::"
                "userdb_quota_rule=*:storage=1G\n" % h)
        f.write("frank:{PLAIN}plain-pw::::::\n")
        f.write("broken line without a password field\n")
    server.start()
    assert can_login(server, "erin", "dove-pw")
    assert can_login(server, "frank", "plain-pw")


def test_add_user_errors(server):
    r = server.cli("user", "add", "bad/name", "--password-stdin",
                   input=b"x\n", check=False)
    assert r.returncode != 0 and b"not a valid user name" in r.stderr
    server.add_user("gina", "pw")
    r = server.cli("user", "add", "gina", "--password-stdin",
                   input=b"x\n", check=False)
    assert r.returncode != 0


def test_sighup_keeps_connections_sigterm_clean(server):
    server.add_user("hank", "pw")
    server.start()
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
    p.user("hank")
    p.pass_("pw")
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert p.stat()[0] == 0
    assert server.cli("reload").returncode == 0
    assert p.noop().startswith(b"+OK")
    p.quit()
    assert server.stop() == 0
    assert "stopped cleanly" in server.log()


def test_missing_certificate_names_key(server, tmp_path):
    with open(server.conf, "a") as f:
        f.write("[tls]\ncert = %s/nope.pem\nkey = %s/nope.key\n" %
                (tmp_path, tmp_path))
    r = subprocess.run([QUIRED, "-c", server.conf, "--foreground"],
                       capture_output=True, timeout=30)
    assert r.returncode == 78
    err = r.stderr.decode()
    assert server.conf in err and "[tls] cert" in err


def test_port_in_use(server):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", server.ports["pop3"]))
    s.listen()
    r = subprocess.run([QUIRED, "-c", server.conf, "--foreground"],
                       capture_output=True, timeout=30)
    s.close()
    assert r.returncode != 0
    assert b"[pop3] listen" in r.stderr


def test_demo_mode_prints_connection(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    from conftest import free_ports
    port, port_s, port_l = free_ports(3)
    proc = subprocess.Popen(
        [QUIRED, "--foreground", "--demo",
         "-o", "server.data_dir=%s/var" % d,
         "-o", "pop3.listen=127.0.0.1:%d" % port,
         "-o", "pop3s.listen=127.0.0.1:%d" % port_s,
         "-o", "imap.listen=", "-o", "imaps.listen=",
         "-o", "lmtp.listen=127.0.0.1:%d" % port_l],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_port(port)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        text = out.decode()
        assert "user   demo" in text and "password" in text
        pw = [l.split()[1] for l in text.splitlines()
              if l.strip().startswith("password")][0]
        assert len(pw) == 16
    finally:
        if proc.poll() is None:
            proc.kill()


def test_default_mechanisms_leave_scram_off(tmp_path):
    """SCRAM-SHA-256 only works for users stored as {SCRAM-SHA-256} or in
    clear; by default it is not offered, so clients that pick the strongest
    mechanism do not fail for crypt users."""
    from conftest import Server
    srv = Server(tmp_path)
    text = open(srv.conf).read().replace(
        "mechanisms = PLAIN LOGIN SCRAM-SHA-256\n", "")
    open(srv.conf, "w").write(text)
    srv.add_user("ivy", "pw")
    srv.start()
    try:
        p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
        caps = p.capa()
        assert caps["SASL"] == ["PLAIN", "LOGIN"]
        try:
            p._shortcmd("AUTH SCRAM-SHA-256")
            assert False, "SCRAM accepted while disabled"
        except poplib.error_proto:
            pass
        p.quit()
    finally:
        srv.stop()


def test_bad_mechanisms_config(server):
    with open(server.conf, "a") as f:
        f.write("[auth]\nmechanisms = PLAIN CRAM-MD5\n")
    r = subprocess.run([QUIRED, "-c", server.conf, "--foreground"],
                       capture_output=True, timeout=30)
    assert r.returncode == 78
    assert b"[auth] mechanisms" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_privilege_drop_to_service_user(tmp_path):
    """Started as root with [server] user, quired binds, hands data_dir to
    that user and serves mail as it; a root `quire user add` keeps the
    passwd-file readable by it."""
    import pwd
    import shutil
    import tempfile
    from conftest import Server
    nobody = pwd.getpwnam("nobody")
    # pytest's tmp_path is 0700 root: the service user could not reach it.
    base = tempfile.mkdtemp(prefix="quire-drop-")
    os.chmod(base, 0o755)
    try:
        srv = Server(base)
        with open(srv.conf, "a") as f:
            f.write("[server]\nuser = nobody\n")
        srv.add_user("jay", "pw")
        srv.start()
        try:
            c = LMTP(srv.ports["lmtp"])
            c.cmd("LHLO x")
            assert c.deliver("s@x", ["jay"], b"Subject: x\r\n\r\nhi\r\n") \
                == [250]
            c.close()
            srv.add_user("kim", "pw2")
            assert can_login(srv, "kim", "pw2")
            p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
            p.user("jay")
            p.pass_("pw")
            assert p.stat()[0] == 1
            p.quit()
            st = os.stat(srv.data)
            assert st.st_uid == nobody.pw_uid
            assert os.stat(os.path.join(srv.data, "passwd")).st_uid == \
                nobody.pw_uid
            with open("/proc/%d/status" % srv.proc.pid) as f:
                uids = [l for l in f if l.startswith("Uid:")][0].split()
            assert all(int(u) == nobody.pw_uid for u in uids[1:])
        finally:
            srv.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_second_quired_on_same_ports_refuses(server, tmp_path):
    """SO_REUSEPORT would let a second quired join the first one's ports
    and take half its connections; it must refuse to start instead."""
    server.add_user("lee", "pw")
    server.start()
    r = subprocess.run([QUIRED, "-c", server.conf, "--foreground",
                        "-o", "server.data_dir=%s/other" % tmp_path],
                       capture_output=True, timeout=30)
    assert r.returncode != 0
    assert b"another server" in r.stderr, r.stderr
    assert can_login(server, "lee", "pw")
