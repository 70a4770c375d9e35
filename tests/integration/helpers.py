"""Small clients for the integration tests: raw LMTP, message builders,
and a SCRAM-SHA-256 client written from RFC 5802 (independent of quire's
server code)."""

import base64
import hashlib
import hmac
import os
import socket
import ssl


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_message(n=0, body_lines=None, subject=None, extra=b""):
    subject = subject or ("test message %d" % n)
    if body_lines is None:
        body_lines = [b"Hello number %d." % n, b".a line starting with a dot",
                      b"..two dots", b".", b"caf\xc3\xa9 8-bit line", b"end"]
    head = (b"From: Sender <sender@example.org>\r\n"
            b"To: rcpt@example.org\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <msg-%d@example.org>\r\n" % n +
            b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n" + extra + b"\r\n")
    return head + b"\r\n".join(body_lines) + b"\r\n"


def dot_stuff(msg):
    out = []
    for line in msg.split(b"\r\n")[:-1]:
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out) + b"\r\n.\r\n"


class LMTP:
    """A line-level LMTP client, so per-recipient DATA replies can be
    read (smtplib reads only one)."""

    def __init__(self, port=None, path=None, timeout=30):
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port),
                                                 timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One reply, possibly multi-line: (code, [texts])."""
        texts = []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("connection closed")
            line = line.rstrip(b"\r\n")
            texts.append(line[4:])
            if line[3:4] != b"-":
                return int(line[:3]), texts

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def deliver(self, sender, rcpts, msg):
        """Returns the list of per-recipient DATA codes (None for those
        refused at RCPT)."""
        code, _ = self.cmd("MAIL FROM:<%s>" % sender)
        assert code == 250, code
        accepted = []
        for r in rcpts:
            code, _ = self.cmd("RCPT TO:<%s>" % r)
            accepted.append(code == 250)
        if not any(accepted):
            self.cmd("RSET")
            return [None] * len(rcpts)
        code, _ = self.cmd("DATA")
        assert code == 354, code
        self.send(dot_stuff(msg))
        result = []
        for a in accepted:
            result.append(self.reply()[0] if a else None)
        return result

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def lhlo(port):
    c = LMTP(port)
    code, caps = c.cmd("LHLO client.example.org")
    return c, code, caps


def scram_client(user, password, exchange):
    """Runs SCRAM-SHA-256. exchange(bytes) sends a client message and
    returns the server's next message (bytes). Returns the server-final
    message."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    server_first = exchange(("n,," + first_bare).encode()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce)
    salt = base64.b64decode(attrs["s"])
    iters = int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = "c=biws,r=%s" % attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo_proof]).encode()
    sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    server_final = exchange((final_wo_proof + ",p=" +
                             base64.b64encode(proof).decode()).encode())
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expect = base64.b64encode(hmac.new(server_key, auth_msg,
                                       hashlib.sha256).digest())
    assert server_final == b"v=" + expect, server_final
    return server_final
