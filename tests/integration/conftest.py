"""Shared fixtures: a quired started on free loopback ports in a temp dir,
with users added through the `quire` CLI, stopped by PID at the end.

Environment:
  QUIRE_BUILD=DIR    the build directory holding quired and quire
                     (default: build/ at the top of the tree).
  QUIRE_VALGRIND=1   start quired under valgrind (memcheck: invalid
                     accesses, uninitialised values, definite leaks at
                     exit) with longer startup and shutdown waits; the
                     `server` fixture fails a test whose quired log holds
                     a valgrind error. Use it with the plain build, not
                     the sanitizer one; make test never sets it (slow):
                       QUIRE_BUILD=build QUIRE_VALGRIND=1 \\
                           python3 -m pytest tests/integration
"""

import os
import re
import socket
import subprocess
import time

import pytest

BUILD = os.environ.get("QUIRE_BUILD",
                       os.path.join(os.path.dirname(__file__), "..", "..",
                                    "build"))
QUIRED = os.path.join(BUILD, "quired")
QUIRE = os.path.join(BUILD, "quire")

VALGRIND = os.environ.get("QUIRE_VALGRIND", "") not in ("", "0")
VALGRIND_EXIT = 99
VALGRIND_CMD = ["valgrind", "--error-exitcode=%d" % VALGRIND_EXIT,
                "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--track-fds=no", "-q"]
# Under valgrind quired starts (and makes its certificate) some 20-50
# times slower, and its exit runs the leak check.
START_TIMEOUT = 90.0 if VALGRIND else 10.0
STOP_TIMEOUT = 90.0 if VALGRIND else 20.0

# The first line of each memcheck error report ("==PID== Invalid read of
# size 4", "... definitely lost in loss record ..."). Warnings valgrind
# prints about itself ("Warning: set address range perms") and leak
# records that are only "possibly lost" are not errors.
VALGRIND_ERROR = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free"
    r"|Conditional jump|Use of uninitialised|Syscall param"
    r"|Source and destination overlap|Argument '"
    r"|Process terminating|Jump to the invalid|Thread \d+"
    r"|.* definitely lost in loss record|.*uninitialised)", re.M)


def quired_command(*args):
    """The command line that starts quired with args, under valgrind when
    QUIRE_VALGRIND is set."""
    cmd = [QUIRED] + list(args)
    return VALGRIND_CMD + cmd if VALGRIND else cmd


def valgrind_errors(log):
    """The valgrind error lines in a quired log (empty if none)."""
    return [m.group(0) for m in VALGRIND_ERROR.finditer(log)]


def free_ports(n):
    """n distinct free loopback ports: the sockets stay bound until all
    are picked, or the kernel may hand out the same port twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def wait_unix(path, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(1)
            s.connect(path)
            return True
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    return False


class Server:
    """One quired instance. Ports: pop3, pop3s, lmtp, imap, imaps."""

    def __init__(self, tmpdir, extra_conf=""):
        self.dir = str(tmpdir)
        self.data = os.path.join(self.dir, "var")
        names = ("pop3", "pop3s", "imap", "imaps", "lmtp")
        self.ports = dict(zip(names, free_ports(len(names))))
        self.conf = os.path.join(self.dir, "quire.conf")
        self.extra_conf = extra_conf
        self.proc = None
        self.log_path = os.path.join(self.dir, "quired.log")
        self.write_conf()

    def write_conf(self):
        p = self.ports
        with open(self.conf, "w") as f:
            f.write(f"""[server]
data_dir = {self.data}
workers = 2
log_level = debug
[auth]
allow_plaintext = loopback
mechanisms = PLAIN LOGIN SCRAM-SHA-256
[pop3]
listen = 127.0.0.1:{p['pop3']}
[pop3s]
listen = 127.0.0.1:{p['pop3s']}
[imap]
listen = 127.0.0.1:{p['imap']}
[imaps]
listen = 127.0.0.1:{p['imaps']}
[lmtp]
listen = 127.0.0.1:{p['lmtp']}, unix:{self.data}/lmtp.sock
""")
            f.write(self.extra_conf)

    def cli(self, *args, input=None, check=True):
        r = subprocess.run([QUIRE, "-c", self.conf] + list(args),
                           input=input, capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("quire %s failed (%d): %s" %
                                 (" ".join(args), r.returncode,
                                  r.stderr.decode(errors="replace")))
        return r

    def add_user(self, name, password, scheme=None):
        args = ["user", "add", name, "--password-stdin"]
        if scheme:
            args += ["--scheme", scheme]
        return self.cli(*args, input=password.encode() + b"\n")

    def start(self, wait=("pop3", "lmtp")):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(quired_command("-c", self.conf,
                                                    "--foreground"),
                                     stdout=self.logf, stderr=self.logf)
        for k in wait:
            if not wait_port(self.ports[k], timeout=START_TIMEOUT):
                self.stop()
                raise AssertionError("quired did not open %s:\n%s" %
                                     (k, self.log()))
        # The unix LMTP socket is opened after the TCP listeners; under
        # valgrind a test could otherwise connect before it exists.
        sock = os.path.join(self.data, "lmtp.sock")
        with open(self.conf) as f:
            unix = "unix:" + sock in f.read()
        if "lmtp" in wait and unix:
            if not wait_unix(sock, timeout=START_TIMEOUT):
                self.stop()
                raise AssertionError("quired did not open %s:\n%s" %
                                     (sock, self.log()))
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=15, timeout=None):
        if self.proc is None:
            return None
        if timeout is None:
            timeout = STOP_TIMEOUT
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        return rc


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    rc = srv.stop()
    log = srv.log() if os.path.exists(srv.log_path) else ""
    # A sanitizer report in the server's log fails the test that ran it.
    assert "ERROR: AddressSanitizer" not in log, log
    assert "runtime error:" not in log, log
    assert "ERROR: LeakSanitizer" not in log, log
    if VALGRIND:
        assert not valgrind_errors(log), log
        assert rc != VALGRIND_EXIT, "valgrind found errors:\n" + log
    assert rc in (None, 0, -9), "quired exited %s:\n%s" % (rc, log)
