"""quire against mail clients its authors did not write: swaks delivers
over LMTP (TCP and the unix socket), fetchmail and getmail6 download over
POP3 (plain, STLS, implicit TLS), deleting the mail or leaving it on the
server. What a client stores must be what swaks sent, byte for byte, once
the Return-Path and Delivered-To lines delivery prepends are taken off
(getmail writes its own Return-Path and stores with LF line ends, so for
it the comparison is made in that form). A test is skipped only when the
client's program is not installed."""

import glob
import os
import poplib
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest

from helpers import tls_context

PASSWORD = "client pass 1"
BOB_PASSWORD = "bob pass 2"
TIMEOUT = 60  # every client run; each takes well under a second

SWAKS = shutil.which("swaks")
FETCHMAIL = shutil.which("fetchmail")
GETMAIL = shutil.which("getmail")


def need(prog, name):
    if prog is None:
        pytest.skip("%s is not installed (scripts/install-deps)" % name)


@pytest.fixture
def srv(server):
    server.add_user("alice", PASSWORD)
    server.add_user("bob", BOB_PASSWORD)
    server.start(wait=("pop3", "pop3s", "lmtp"))
    return server


# ---- sending with swaks ---------------------------------------------------

def message(n, body_lines=None, extra=b""):
    """A message as a file swaks is given: dot lines (stuffed on the wire),
    a line starting with "From " (quoted in mbox files), 8-bit text."""
    if body_lines is None:
        body_lines = [b"Hello number %d." % n, b".a line starting with a dot",
                      b"..two dots", b".", b"From the start of a line",
                      b"caf\xc3\xa9 8-bit line", b"", b"end"]
    head = (b"From: Sender <sender@example.org>\r\n"
            b"To: alice@example.org\r\n"
            b"Subject: client test %d\r\n" % n +
            b"Message-ID: <client-%d@example.org>\r\n" % n +
            b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n" + extra + b"\r\n")
    return head + b"\r\n".join(body_lines) + b"\r\n"


def swaks_sent(transcript):
    """The message as swaks put it on the wire: its " -> " lines after the
    354 reply up to the lone ".", dot-unstuffed (RFC 5321 4.5.2). Piped,
    swaks ends each transcript line with CRLF."""
    lines = [l[:-1] if l.endswith(b"\r") else l
             for l in transcript.split(b"\n")]
    start = next(i for i, l in enumerate(lines) if l.startswith(b"<-  354"))
    out = []
    for l in lines[start + 1:]:
        assert l.startswith(b" -> "), l
        l = l[4:]
        if l == b".":
            return b"".join(out)
        if l.startswith(b"."):
            l = l[1:]
        out.append(l + b"\r\n")
    raise AssertionError("no end of data in the swaks transcript")


def swaks(srv, tmp_path, msg, rcpts=("alice@example.org",), unix=False):
    """Delivers msg with swaks over LMTP; returns what swaks sent. Every
    recipient must get a 250."""
    need(SWAKS, "swaks")
    path = tmp_path / ("swaks-%d.eml" % len(list(tmp_path.glob("swaks-*"))))
    path.write_bytes(msg)
    if unix:
        where = ["--socket", os.path.join(srv.data, "lmtp.sock")]
    else:
        where = ["--server", "127.0.0.1:%d" % srv.ports["lmtp"]]
    r = subprocess.run([SWAKS, "--protocol", "LMTP"] + where +
                       ["--helo", "client.example.org",
                        "--from", "sender@example.org",
                        "--to", ",".join(rcpts), "--data", "@%s" % path,
                        "--timeout", "30"],
                       capture_output=True, timeout=TIMEOUT)
    out = r.stdout
    assert r.returncode == 0, out.decode(errors="replace")
    saved = re.findall(rb"^<-  250 2\.0\.0 <([^>]*)>", out, re.M)
    assert saved == [r.encode() for r in rcpts], out
    sent = swaks_sent(out)
    assert sent.startswith(msg), (sent, msg)
    return sent


def strip_delivery_lines(got, user="alice"):
    """Takes off the Return-Path and Delivered-To lines delivery puts
    first (CRLF or LF line ends)."""
    nl = b"\r\n" if got.find(b"\r\n") == got.find(b"\n") - 1 else b"\n"
    rp, dt, rest = got.split(nl, 2)
    assert rp == b"Return-Path: <sender@example.org>", got[:200]
    assert dt.startswith(b"Delivered-To: ") and user.encode() in dt, \
        got[:200]
    return rest


def pop3_count(srv, user="alice", password=PASSWORD):
    """What remains on the server, seen with poplib."""
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    p.user(user)
    p.pass_(password)
    count, _ = p.stat()
    msgs = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
    p.quit()
    return msgs


def last_login(srv, user="alice"):
    lines = [l for l in srv.log().splitlines()
             if " pop3 " in l and "user=%s:" % user in l and " login:" in l]
    assert lines, srv.log()
    return lines[-1]


# ---- fetchmail ------------------------------------------------------------

def fetchmail(srv, tmp_path, mode, keep, fetchall=True,
              password=PASSWORD, out_name="fetched"):
    """Runs fetchmail once for alice; mode is plain, stls or tls. Each
    message goes through the MDA into its own file under out_name.
    Returns (exit code, [message bytes], output)."""
    need(FETCHMAIL, "fetchmail")
    home = tmp_path / "fetchmail"
    home.mkdir(exist_ok=True)
    out = tmp_path / out_name
    out.mkdir(exist_ok=True)
    before = set(os.listdir(out))
    if mode == "tls":
        port, tls = srv.ports["pop3s"], 'ssl sslproto "TLS1.2+" no sslcertck'
    elif mode == "stls":
        # sslproto without ssl: STLS is required, TLS 1.2 or later.
        port, tls = srv.ports["pop3"], 'sslproto "TLS1.2+" no sslcertck'
    else:
        port, tls = srv.ports["pop3"], 'sslproto ""'
    rc = home / "fetchmailrc"
    rc.write_text(
        'set no bouncemail\nset no syslog\nset invisible\n'
        'poll 127.0.0.1 with proto POP3 port %d timeout 20\n'
        '  user "alice" there with password "%s" is "alice" here\n'
        '  options %s %s no rewrite no stripcr %s\n'
        '  mda "cat > $(mktemp %s/msg.XXXXXXXX)"\n' %
        (port, password, "keep" if keep else "no keep",
         "fetchall" if fetchall else "", tls, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    r = subprocess.run([FETCHMAIL, "-f", str(rc), "-v", "--nodetach"],
                       capture_output=True, timeout=TIMEOUT, env=env)
    new = sorted(set(os.listdir(out)) - before)
    return (r.returncode, [(out / n).read_bytes() for n in new],
            (r.stdout + r.stderr).decode(errors="replace"))


@pytest.mark.parametrize("mode,keep,unix", [
    ("plain", True, False),
    ("plain", False, True),
    ("stls", True, True),
    ("stls", False, False),
    ("tls", True, False),
    ("tls", False, True),
])
def test_swaks_to_fetchmail(srv, tmp_path, mode, keep, unix):
    sent = [swaks(srv, tmp_path, message(i), unix=unix) for i in range(3)]
    rc, got, log = fetchmail(srv, tmp_path, mode, keep)
    assert rc == 0, log
    assert sorted(strip_delivery_lines(g) for g in got) == sorted(sent), log
    login = last_login(srv)
    if mode == "plain":
        assert "plaintext" in login, login
    else:
        assert "TLSv1." in login, login
    if mode == "stls":
        assert "upgrade to TLS succeeded" in log, log
    left = pop3_count(srv)
    if keep:
        assert sorted(left) == sorted(got)
    else:
        assert left == []


def test_fetchmail_keep_fetches_only_new_mail(srv, tmp_path):
    """Without fetchall fetchmail remembers UIDLs: a second run finds
    nothing new, a third gets only the message delivered in between."""
    first = [swaks(srv, tmp_path, message(i)) for i in range(2)]
    rc, got, log = fetchmail(srv, tmp_path, "stls", True, fetchall=False)
    assert rc == 0, log
    assert sorted(strip_delivery_lines(g) for g in got) == sorted(first)
    rc, got, log = fetchmail(srv, tmp_path, "stls", True, fetchall=False)
    assert rc == 1 and got == [], log  # 1: no mail
    new = swaks(srv, tmp_path, message(7), unix=True)
    rc, got, log = fetchmail(srv, tmp_path, "stls", True, fetchall=False)
    assert rc == 0, log
    assert [strip_delivery_lines(g) for g in got] == [new], log
    assert len(pop3_count(srv)) == 3


def test_fetchmail_bad_password_leaves_mail(srv, tmp_path):
    sent = swaks(srv, tmp_path, message(1))
    rc, got, log = fetchmail(srv, tmp_path, "tls", False,
                             password="wrong password")
    assert rc == 3 and got == [], log  # 3: authentication failed
    left = pop3_count(srv)
    assert [strip_delivery_lines(m) for m in left] == [sent]


def test_swaks_large_message_to_fetchmail(srv, tmp_path):
    """A message of about 3 MB with long and dotted lines streams out intact."""
    body = []
    for i in range(30000):
        body.append(b"." * (i % 3) + b"line %06d " % i + b"x" * (i % 170))
    sent = swaks(srv, tmp_path, message(9, body_lines=body))
    assert len(sent) > 2900 * 1000
    rc, got, log = fetchmail(srv, tmp_path, "tls", False)
    assert rc == 0, log
    assert [strip_delivery_lines(g) for g in got] == [sent]
    assert pop3_count(srv) == []


def test_swaks_several_recipients(srv, tmp_path):
    """One LMTP transaction for two users: each gets its own copy, with
    its own Delivered-To."""
    sent = swaks(srv, tmp_path, message(3),
                 rcpts=("alice@example.org", "bob@example.org"), unix=True)
    alice = pop3_count(srv)
    bob = pop3_count(srv, "bob", BOB_PASSWORD)
    assert [strip_delivery_lines(m) for m in alice] == [sent]
    assert [strip_delivery_lines(m, "bob") for m in bob] == [sent]


# ---- getmail6 -------------------------------------------------------------

class GetmailDest:
    """A Maildir or an mboxrd file getmail delivers into. getmail refuses
    to deliver as root; then it delivers as nobody, into a directory of
    ours outside pytest's private temporary tree."""

    def __init__(self, kind):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix="quire-getmail-")
        self.user = None
        if kind == "maildir":
            self.path = os.path.join(self.dir, "Maildir") + "/"
            for d in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(self.path, d))
        else:
            self.path = os.path.join(self.dir, "mbox")
            open(self.path, "wb").close()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.user = "nobody"
            for root, dirs, files in os.walk(self.dir):
                for n in [root] + [os.path.join(root, f) for f in files]:
                    os.chown(n, nobody.pw_uid, nobody.pw_gid)
            os.chmod(self.dir, 0o755)

    def messages(self):
        """Every message delivered so far, in LF form, without the mbox
        From_ line and quoting."""
        if self.kind == "maildir":
            names = glob.glob(os.path.join(self.path, "new", "*"))
            return sorted(open(n, "rb").read() for n in names)
        data = open(self.path, "rb").read()
        msgs = []
        # mboxrd: each message starts with a "From " line and ends with
        # an empty line; ">From ", ">>From " lose one ">".
        for part in re.split(rb"(?:^|(?<=\n\n))From [^\n]*\n", data)[1:]:
            assert part.endswith(b"\n\n"), part[-100:]
            part = part[:-1]
            part = re.sub(rb"(?m)^>(>*From )", rb"\1", part)
            msgs.append(part)
        return sorted(msgs)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def getmail_dest(request):
    dests = []

    def make(kind):
        d = GetmailDest(kind)
        dests.append(d)
        return d
    yield make
    for d in dests:
        d.cleanup()


def getmail(srv, tmp_path, dest, tls, delete, read_all=True):
    """Runs getmail once for alice. Returns (exit code, output)."""
    need(GETMAIL, "getmail6")
    gdir = tmp_path / "getmail"
    gdir.mkdir(exist_ok=True)
    rc = gdir / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        "type = %s\n"
        "server = 127.0.0.1\n"
        "port = %d\n"
        "username = alice\n"
        "password = %s\n"
        "timeout = 20\n"
        "[destination]\n"
        "type = %s\n"
        "path = %s\n"
        "%s"
        "[options]\n"
        "delete = %s\n"
        "read_all = %s\n"
        "delivered_to = false\n"
        "received = false\n"
        "verbose = 1\n" %
        ("SimplePOP3SSLRetriever" if tls else "SimplePOP3Retriever",
         srv.ports["pop3s" if tls else "pop3"], PASSWORD,
         "Maildir" if dest.kind == "maildir" else "Mboxrd", dest.path,
         "user = %s\n" % dest.user if dest.user else "",
         str(delete).lower(), str(read_all).lower()))
    r = subprocess.run([GETMAIL, "--getmaildir", str(gdir),
                        "--rcfile", str(rc)],
                       capture_output=True, timeout=TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def lf_form(msg):
    """msg as getmail stores it: LF line ends."""
    return msg.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("tls,kind,delete", [
    (False, "maildir", False),
    (False, "mboxrd", True),
    (True, "maildir", True),
    (True, "mboxrd", False),
])
def test_swaks_to_getmail(srv, tmp_path, getmail_dest, tls, kind, delete):
    sent = [swaks(srv, tmp_path, message(i), unix=(i == 1))
            for i in range(3)]
    dest = getmail_dest(kind)
    rc, log = getmail(srv, tmp_path, dest, tls, delete)
    assert rc == 0, log
    got = dest.messages()
    assert len(got) == 3, log
    assert sorted(strip_delivery_lines(g) for g in got) == \
        sorted(lf_form(s) for s in sent), log
    login = last_login(srv)
    assert ("TLSv1." in login) == tls, login
    left = pop3_count(srv)
    if delete:
        assert left == []
    else:
        assert sorted(lf_form(strip_delivery_lines(m)) for m in left) == \
            sorted(lf_form(s) for s in sent)


def test_getmail_read_all_false_fetches_only_new_mail(srv, tmp_path,
                                                      getmail_dest):
    """read_all = false: getmail keeps the UIDLs it has seen; quire's
    UIDLs stay stable, so a second run gets nothing and a third only the
    new message."""
    first = [swaks(srv, tmp_path, message(i)) for i in range(2)]
    dest = getmail_dest("maildir")
    rc, log = getmail(srv, tmp_path, dest, False, False, read_all=False)
    assert rc == 0, log
    assert len(dest.messages()) == 2, log
    rc, log = getmail(srv, tmp_path, dest, False, False, read_all=False)
    assert rc == 0, log
    assert "0 messages" in log, log
    assert len(dest.messages()) == 2, log
    new = swaks(srv, tmp_path, message(5), unix=True)
    rc, log = getmail(srv, tmp_path, dest, False, False, read_all=False)
    assert rc == 0, log
    assert "1 messages" in log, log
    got = [strip_delivery_lines(g) for g in dest.messages()]
    assert sorted(got) == sorted(lf_form(s) for s in first + [new]), log
    assert len(pop3_count(srv)) == 3


def test_stls_offered_to_clients(srv):
    """The STLS runs above rely on it: CAPA lists STLS and the upgrade
    works with a client's own TLS stack."""
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    assert "STLS" in p.capa()
    p.stls(context=tls_context())
    p.user("alice")
    p.pass_(PASSWORD)
    p.quit()
    assert "TLSv1." in last_login(srv)
