"""quire's IMAP against clients its authors did not write: mbsync (isync),
offlineimap3, curl, fetchmail and neomutt. Mail is delivered over LMTP;
what a client stores must be what the server holds, byte for byte, and
what the server holds after a client ran is checked the way a user would
see it, with Python's imaplib. The Maildir clients store LF line ends
and mbsync adds an X-TUID header to what it copies, so their files are
compared in that form (lf_form). neomutt runs in a tmux session of its
own, read with capture-pane. A test is skipped only when the client's
program (or, for curl's SCRAM, the library behind it) is missing; every
client run has a timeout."""

import glob
import hashlib
import imaplib
import os
import re
import shutil
import ssl
import subprocess
import time

import pytest

from helpers import LMTP, make_message

PW = "imap client pw 1"
SCRAM_PW = "scram client pw 2"
TIMEOUT = 60  # every client run; each takes well under a few seconds

MBSYNC = shutil.which("mbsync")
OFFLINEIMAP = shutil.which("offlineimap")
CURL = shutil.which("curl")
FETCHMAIL = shutil.which("fetchmail")
NEOMUTT = shutil.which("neomutt")
TMUX = shutil.which("tmux")


def need(prog, name):
    if prog is None:
        pytest.skip("%s is not installed (scripts/install-deps)" % name)


@pytest.fixture
def srv(server):
    server.add_user("alice", PW)
    server.add_user("carol", SCRAM_PW, scheme="SCRAM-SHA-256")
    server.start(wait=("imap", "imaps", "lmtp"))
    return server


def cert_path(srv):
    return os.path.join(srv.data, "tls", "cert.pem")


def deliver(srv, msg, user="alice"):
    lm = LMTP(port=srv.ports["lmtp"])
    lm.cmd("LHLO client.example.org")
    codes = lm.deliver("sender@example.org", [user + "@example.org"], msg)
    assert codes == [250], codes
    lm.close()


def run(cmd, env=None, timeout=TIMEOUT, input=None):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                       input=input)
    return r.returncode, r.stdout, r.stderr


# ---- the server's side, seen with imaplib ---------------------------------

def imap(srv, user="alice", password=PW):
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    m.login(user, password)
    return m


def server_mail(srv, mailbox="INBOX", user="alice", password=PW):
    """{uid: (set of flags, message bytes)} for one mailbox."""
    m = imap(srv, user, password)
    typ, _ = m.select('"%s"' % mailbox, readonly=True)
    assert typ == "OK", mailbox
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1)
        out[uid] = (set(flags.decode().split()), body)
    m.logout()
    return out


def server_mailboxes(srv, user="alice", password=PW):
    m = imap(srv, user, password)
    typ, data = m.list()
    m.logout()
    names = set()
    for line in data:
        name = line.decode().split(') "/" ', 1)[1]
        names.add(name.strip('"'))
    return names


def bodies(mail):
    return sorted(b for _, b in mail.values())


def store(srv, mailbox, uid, op, flags, expunge=False):
    m = imap(srv)
    assert m.select('"%s"' % mailbox)[0] == "OK"
    typ, data = m.uid("STORE", str(uid), op, flags)
    assert typ == "OK", data
    if expunge:
        assert m.expunge()[0] == "OK"
    m.logout()


# ---- Maildir (what mbsync and offlineimap write) --------------------------

def lf_form(msg):
    """msg as a Maildir client stores it: LF line ends, without the
    X-TUID header mbsync puts in every message it copies (it finds an
    interrupted copy again by it)."""
    msg = msg.replace(b"\r\n", b"\n")
    head, sep, body = msg.partition(b"\n\n")
    head = re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", head + b"\n")[:-1]
    return head + sep + body


def lf_bodies(mail):
    return sorted(lf_form(b) for _, b in mail.values())


def maildir_messages(path):
    """[(file name, flags after ':2,', LF-form bytes)] of one Maildir
    folder."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for n in sorted(os.listdir(d)):
            flags = n.split(":2,", 1)[1] if ":2," in n else ""
            with open(os.path.join(d, n), "rb") as f:
                out.append((os.path.join(d, n), flags, lf_form(f.read())))
    return out


def maildir_add(path, msg, name):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    tmp = os.path.join(path, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(msg)
    os.rename(tmp, os.path.join(path, "new", name))


def maildir_set_flags(fname, flags):
    """Renames a Maildir file to carry flags (letters, sorted), moving it
    to cur/ as a mail reader does."""
    d, base = os.path.split(fname)
    base = base.split(":2,", 1)[0]
    new = os.path.join(os.path.dirname(d), "cur",
                       base + ":2," + "".join(sorted(flags)))
    os.rename(fname, new)
    return new


# ---- mbsync (isync) -------------------------------------------------------

MBSYNC_TLS = {
    "plain": ("imap", "None"),
    "starttls": ("imap", "STARTTLS"),
    "imaps": ("imaps", "IMAPS"),
}


class Mbsync:
    def __init__(self, srv, tmp_path, mode, channel_extra="",
                 near_extra="", far_extra=""):
        need(MBSYNC, "mbsync (isync)")
        self.srv = srv
        self.home = tmp_path / "mbsync-home"
        self.home.mkdir(exist_ok=True)
        self.mail = str(tmp_path / "Mail") + "/"
        os.makedirs(self.mail, exist_ok=True)
        self.conf = tmp_path / "mbsyncrc"
        port, ssltype = MBSYNC_TLS[mode]
        tls = ""
        if ssltype != "None":
            tls = "CertificateFile %s\n" % cert_path(srv)
        self.conf.write_text(
            "IMAPAccount quire\n"
            "Host 127.0.0.1\n"
            "Port %d\n"
            "User alice\n"
            "Pass \"%s\"\n"
            "SSLType %s\n"
            "%s"
            "AuthMechs LOGIN PLAIN\n"
            "Timeout 20\n"
            "\n"
            "IMAPStore quire-remote\n"
            "Account quire\n"
            "%s"
            "\n"
            "MaildirStore local\n"
            "Path %s\n"
            "Inbox %sINBOX\n"
            "SubFolders Verbatim\n"
            "%s"
            "\n"
            "Channel quire\n"
            "Far :quire-remote:\n"
            "Near :local:\n"
            "Patterns *\n"
            "Create Both\n"
            "Remove None\n"
            "Expunge Both\n"
            "Sync All\n"
            "SyncState *\n"
            "%s" %
            (srv.ports[port], PW, ssltype, tls, far_extra, self.mail,
             self.mail, near_extra, channel_extra))

    def sync(self, debug=False):
        env = dict(os.environ, HOME=str(self.home))
        cmd = [MBSYNC, "-c", str(self.conf)]
        if debug:
            cmd.append("-D")
        cmd.append("quire")
        rc, out, err = run(cmd, env=env)
        log = (out + err).decode(errors="replace")
        return rc, log

    def ok(self):
        """One run that must succeed; its protocol trace (-D) is the
        failure message otherwise."""
        rc, log = self.sync(debug=True)
        if rc != 0:
            raise AssertionError("mbsync failed (%d):\n%s" %
                                 (rc, log[-30000:]))
        return log

    def folder(self, name="INBOX"):
        return os.path.join(self.mail, name)


@pytest.mark.parametrize("mode", ["plain", "starttls", "imaps"])
def test_mbsync_initial_pull(srv, tmp_path, mode):
    msgs = [make_message(i) for i in range(3)]
    for m in msgs:
        deliver(srv, m)
    mb = Mbsync(srv, tmp_path, mode)
    mb.ok()
    local = maildir_messages(mb.folder())
    remote = server_mail(srv)
    assert sorted(b for _, _, b in local) == lf_bodies(remote)
    assert len(local) == 3
    for _, _, b in local:
        assert any(b.endswith(lf_form(m)) for m in msgs)
    # The default folders came over too.
    for box in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert os.path.isdir(os.path.join(mb.folder(box), "cur")), box
    # A second run with nothing changed changes nothing.
    mb.ok()
    assert maildir_messages(mb.folder()) == local
    assert server_mail(srv) == remote
    login = [l for l in srv.log().splitlines()
             if " imap " in l and " login:" in l and "user=alice" in l]
    assert login, srv.log()
    # The first login is mbsync's; imaplib's checks came after it.
    assert ("TLSv1." in login[0]) == (mode != "plain"), login[0]


@pytest.mark.parametrize("mode", ["plain", "starttls"])
def test_mbsync_two_way(srv, tmp_path, mode):
    for i in range(3):
        deliver(srv, make_message(i))
    mb = Mbsync(srv, tmp_path, mode)
    mb.ok()
    local = maildir_messages(mb.folder())
    assert len(local) == 3
    remote = server_mail(srv)
    uid_of = {lf_form(b): u for u, (_, b) in remote.items()}

    # Flags set locally are pushed to the server.
    seen_file, _, seen_body = local[0]
    flag_file, _, flag_body = local[1]
    maildir_set_flags(seen_file, "S")
    maildir_set_flags(flag_file, "FS")
    mb.ok()
    remote = server_mail(srv)
    assert remote[uid_of[seen_body]][0] == {"\\Seen"}
    assert remote[uid_of[flag_body]][0] == {"\\Seen", "\\Flagged"}
    third = [u for u in remote if u not in (uid_of[seen_body],
                                            uid_of[flag_body])][0]
    assert "\\Seen" not in remote[third][0]

    # A flag set on the server comes down.
    store(srv, "INBOX", third, "+FLAGS", "(\\Answered)")
    mb.ok()
    flags = {b: f for _, f, b in maildir_messages(mb.folder())}
    assert flags[lf_form(remote[third][1])] == "R"

    # A message expunged on the server disappears locally.
    store(srv, "INBOX", uid_of[flag_body], "+FLAGS", "(\\Deleted)",
          expunge=True)
    mb.ok()
    local = maildir_messages(mb.folder())
    assert sorted(b for _, _, b in local) == \
        sorted([seen_body, lf_form(remote[third][1])])

    # A message written locally is uploaded.
    new = make_message(10, subject="written locally")
    maildir_add(mb.folder(), new, "%d.local1.host" % int(time.time()))
    mb.ok()
    remote = server_mail(srv)
    assert len(remote) == 3
    assert lf_form(new) in lf_bodies(remote)
    # ...and it keeps its bytes on the way back.
    mb.ok()
    assert sorted(b for _, _, b in maildir_messages(mb.folder())) == \
        lf_bodies(server_mail(srv))

    # A message deleted locally (trashed + expunged) goes from the server.
    victim = [x for x in maildir_messages(mb.folder())
              if x[2] == seen_body][0]
    maildir_set_flags(victim[0], "ST")
    mb.ok()
    remote = server_mail(srv)
    assert seen_body not in lf_bodies(remote)
    assert len(remote) == 2

    # A folder created locally is created on the server, with its mail.
    sub = make_message(11, subject="in a new folder")
    maildir_add(mb.folder("Projects"), sub, "%d.local2.host" %
                int(time.time()))
    deep = make_message(12, subject="two levels down")
    maildir_add(mb.folder("Projects/2026"), deep, "%d.local3.host" %
                int(time.time()))
    mb.ok()
    assert {"Projects", "Projects/2026"} <= server_mailboxes(srv)
    assert lf_bodies(server_mail(srv, "Projects")) == [lf_form(sub)]
    assert lf_bodies(server_mail(srv, "Projects/2026")) == [lf_form(deep)]
    # A folder created on the server comes down.
    m = imap(srv)
    assert m.create("Lists/quire")[0] == "OK"
    m.logout()
    mb.ok()
    assert os.path.isdir(os.path.join(mb.folder("Lists/quire"), "cur"))


def test_mbsync_large_and_many(srv, tmp_path):
    """Forty messages and one of about 1 MB: mbsync pipelines its FETCHes
    and the big literal arrives intact."""
    body = [b"." * (i % 3) + b"line %06d " % i + b"y" * (i % 150)
            for i in range(12000)]
    big = make_message(99, body_lines=body)
    deliver(srv, big)
    for i in range(40):
        deliver(srv, make_message(i))
    mb = Mbsync(srv, tmp_path, "imaps")
    mb.ok()
    local = maildir_messages(mb.folder())
    assert len(local) == 41
    assert sorted(b for _, _, b in local) == lf_bodies(server_mail(srv))
    assert any(b.endswith(lf_form(big)) for _, _, b in local)


def internaldates(srv, mailbox="INBOX"):
    """{uid: INTERNALDATE as seconds since the epoch}."""
    m = imap(srv)
    assert m.select('"%s"' % mailbox, readonly=True)[0] == "OK"
    typ, data = m.uid("FETCH", "1:*", "(UID INTERNALDATE)")
    m.logout()
    out = {}
    for line in data:
        if line is None:
            continue
        uid = int(re.search(rb"UID (\d+)", line).group(1))
        out[uid] = time.mktime(imaplib.Internaldate2tuple(line))
    return out


def test_mbsync_arrival_dates_and_max_size(srv, tmp_path):
    """CopyArrivalDate: a pulled file's mtime is the INTERNALDATE, and an
    uploaded message's INTERNALDATE is its file's mtime (APPEND with a
    date). MaxSize on the Maildir side: mbsync reads RFC822.SIZE and
    the header, and stores a placeholder for the big message."""
    deliver(srv, make_message(1))
    big = make_message(2, body_lines=[b"z" * 70] * 600)
    deliver(srv, big)
    mb = Mbsync(srv, tmp_path, "plain", channel_extra="CopyArrivalDate yes\n",
                near_extra="MaxSize 20k\n")
    mb.ok()
    remote = server_mail(srv)
    dates = internaldates(srv)
    local = maildir_messages(mb.folder())
    assert len(local) == 2, [x[0] for x in local]
    for name, _, body in local:
        uid = int(re.search(r",U=(\d+)", name).group(1))
        assert abs(os.stat(name).st_mtime - dates[uid]) < 1.0
        if uid == min(remote):
            assert body == lf_form(remote[uid][1])
        else:
            # In its place a placeholder: the header (BODY.PEEK[HEADER])
            # and the size RFC822.SIZE gave.
            size = len(remote[uid][1])
            assert size > 20 * 1024
            assert b"Subject: [placeholder] test message 2\n" in body
            assert b"a size of %dKiB" % (size // 1024) in body, body

    new = make_message(3, subject="with an old date")
    fname = "%d.local3.host" % int(time.time())
    maildir_add(mb.folder(), new, fname)
    old = 1700000000  # 2023-11-14T22:13:20Z
    os.utime(os.path.join(mb.folder(), "new", fname), (old, old))
    mb.ok()
    remote = server_mail(srv)
    dates = internaldates(srv)
    up = [u for u, (_, b) in remote.items() if lf_form(b) == lf_form(new)]
    assert len(up) == 1, remote
    assert dates[up[0]] == old
    assert len(remote) == 3


def test_mbsync_far_trash(srv, tmp_path):
    """Trash on the server side: before expunging a message deleted
    locally mbsync copies it to Trash on the server (UID COPY)."""
    for i in range(2):
        deliver(srv, make_message(i))
    mb = Mbsync(srv, tmp_path, "imaps", far_extra="Trash Trash\n",
                channel_extra="")
    mb.ok()
    local = maildir_messages(mb.folder())
    assert len(local) == 2
    name, _, body = local[0]
    maildir_set_flags(name, "ST")
    mb.ok()
    assert [lf_form(b) for _, b in server_mail(srv).values()] == \
        [b for _, _, b in local[1:]]
    trash = server_mail(srv, "Trash")
    assert [lf_form(b) for _, b in trash.values()] == [body]
    # Syncing Trash moves its \\Deleted message within Trash (a copy
    # and an expunge): run again, nothing is lost or doubled.
    mb.ok()
    trash = server_mail(srv, "Trash")
    assert [lf_form(b) for _, b in trash.values()] == [body]
    assert len(server_mail(srv)) == 1


# ---- offlineimap3 ---------------------------------------------------------

def cert_sha512(srv):
    with open(cert_path(srv)) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha512(der).hexdigest()


class OfflineIMAP:
    def __init__(self, srv, tmp_path, tls, account_extra="",
                 connections=1):
        need(OFFLINEIMAP, "offlineimap3")
        self.srv = srv
        self.tls = tls
        self.mail = str(tmp_path / "oi-mail")
        self.meta = str(tmp_path / "oi-meta")
        self.home = tmp_path / "oi-home"
        self.home.mkdir(exist_ok=True)
        self.conf = tmp_path / "offlineimaprc"
        if tls == "imaps":
            # The certificate names the host, not 127.0.0.1: pin it.
            sec = ("ssl = yes\nstarttls = no\ncert_fingerprint = %s\n"
                   % cert_sha512(srv))
            port = srv.ports["imaps"]
        elif tls == "starttls":
            sec = ("ssl = no\nstarttls = yes\nsslcacertfile = %s\n"
                   "cert_fingerprint = %s\n"
                   % (cert_path(srv), cert_sha512(srv)))
            port = srv.ports["imap"]
        else:
            sec = "ssl = no\nstarttls = no\n"
            port = srv.ports["imap"]
        self.conf.write_text(
            "[general]\n"
            "accounts = quire\n"
            "metadata = %s\n"
            "maxsyncaccounts = 1\n"
            "\n"
            "[Account quire]\n"
            "localrepository = local\n"
            "remoterepository = remote\n"
            "%s"
            "\n"
            "[Repository local]\n"
            "type = Maildir\n"
            "localfolders = %s\n"
            "\n"
            "[Repository remote]\n"
            "type = IMAP\n"
            "remotehost = 127.0.0.1\n"
            "remoteport = %d\n"
            "remoteuser = alice\n"
            "remotepass = %s\n"
            "%s"
            "maxconnections = %d\n"
            "holdconnectionopen = no\n"
            "timeout = 20\n" %
            (self.meta, account_extra, self.mail, port, PW, sec,
             connections))

    def sync(self, debug=False):
        env = dict(os.environ, HOME=str(self.home))
        cmd = [OFFLINEIMAP, "-c", str(self.conf), "-o", "-u", "basic"]
        if debug:
            cmd += ["-d", "imap"]
        rc, out, err = run(cmd, env=env, timeout=120)
        return rc, (out + err).decode(errors="replace")

    def ok(self):
        # STARTTLS: no retry. imaplib2 reads in one thread and writes in
        # another through one TLS object; TLS 1.3 session tickets sent
        # right after the handshake met its first command and it stalled
        # until the server's idle timeout (17 syncs of 80). quired sends
        # them with the first reply (test_imap.py
        # test_starttls_tickets_come_with_the_first_reply); 0 of 190 since.
        rc, log = self.sync()
        if rc != 0 or "ERROR" in log:
            _, trace = self.sync(debug=True)
            raise AssertionError("offlineimap failed (%d):\n%s\n--- trace:"
                                 "\n%s" % (rc, log, trace[-20000:]))
        return log

    def folder(self, name="INBOX"):
        return os.path.join(self.mail, name)


def oi_flags(name):
    return name.split(":2,", 1)[1] if ":2," in name else ""


@pytest.mark.parametrize("tls", ["plain", "starttls", "imaps"])
def test_offlineimap_sync(srv, tmp_path, tls):
    for i in range(3):
        deliver(srv, make_message(i))
    m = imap(srv)
    assert m.create("Lists")[0] == "OK"
    for i in range(2):
        assert m.append("Lists", "(\\Seen)", None,
                        make_message(20 + i))[0] == "OK"
    m.logout()
    oi = OfflineIMAP(srv, tmp_path, tls)
    oi.ok()
    login = [l for l in srv.log().splitlines()
             if " imap " in l and " login:" in l and "user=alice" in l]
    # The first login is the set-up above; the second offlineimap's.
    assert ("TLSv1." in login[1]) == (tls != "plain"), login[1]
    for box in ("INBOX", "Lists"):
        local = maildir_messages(oi.folder(box))
        assert sorted(b for _, _, b in local) == \
            lf_bodies(server_mail(srv, box)), box
    assert all("S" in f for _, f, _ in maildir_messages(oi.folder("Lists")))
    assert all("S" not in f for _, f, _ in maildir_messages(oi.folder()))

    # Server-side changes: new mail, a flag, an expunge.
    remote = server_mail(srv)
    uids = sorted(remote)
    new = make_message(30, subject="after the first sync")
    deliver(srv, new)
    store(srv, "INBOX", uids[0], "+FLAGS", "(\\Flagged)")
    store(srv, "INBOX", uids[1], "+FLAGS", "(\\Deleted)", expunge=True)
    oi.ok()
    local = maildir_messages(oi.folder())
    remote = server_mail(srv)
    assert sorted(b for _, _, b in local) == lf_bodies(remote)
    assert len(local) == 3
    flags = {b: f for _, f, b in local}
    assert "F" in flags[lf_form(remote[uids[0]][1])]

    # Local changes go up: a flag and a new message.
    fname = [x[0] for x in local if x[2].endswith(lf_form(new))][0]
    maildir_set_flags(fname, "S")
    up = make_message(31, subject="from offlineimap")
    maildir_add(oi.folder(), up, "%d.oi1.host" % int(time.time()))
    oi.ok()
    remote = server_mail(srv)
    assert len(remote) == 4
    assert lf_form(up) in lf_bodies(remote)
    assert [f for f, b in remote.values()
            if b.endswith(new)] == [{"\\Seen"}]


def test_offlineimap_folder_names(srv, tmp_path):
    """utf8foldernames: offlineimap turns modified UTF-7 names (RFC 3501
    5.1.3) into UTF-8 local folders and back; a hierarchy level maps to
    Maildir's "." separator; folders made on either side appear on the
    other."""
    m = imap(srv)
    for box in ("K&AOQ-se", "Lists/quire-dev"):
        assert m.create(box)[0] == "OK"
        assert m.append(box, None, None,
                        make_message(1, subject="in " + box))[0] == "OK"
    m.logout()
    oi = OfflineIMAP(srv, tmp_path, "plain",
                     account_extra="utf8foldernames = yes\n")
    oi.ok()
    for local, box in (("K\u00e4se", "K&AOQ-se"),
                       ("Lists.quire-dev", "Lists/quire-dev")):
        got = maildir_messages(oi.folder(local))
        assert [b for _, _, b in got] == lf_bodies(server_mail(srv, box))
    new = make_message(2, subject="in Gr\u00fc\u00dfe")
    maildir_add(oi.folder("Gr\u00fc\u00dfe"), new, "1.oi2.host")
    oi.ok()
    assert "Gr&APwA3w-e" in server_mailboxes(srv)
    assert lf_bodies(server_mail(srv, "Gr&APwA3w-e")) == [lf_form(new)]


def test_offlineimap_parallel_folders(srv, tmp_path):
    """maxconnections = 3: offlineimap syncs folders in parallel over
    three sessions of one user, uploading into each."""
    m = imap(srv)
    boxes = ["INBOX"] + ["F%d" % i for i in range(5)]
    for box in boxes[1:]:
        assert m.create(box)[0] == "OK"
    for n, box in enumerate(boxes):
        for i in range(4):
            assert m.append(box, None, None,
                            make_message(10 * n + i))[0] == "OK"
    m.logout()
    oi = OfflineIMAP(srv, tmp_path, "plain", connections=3)
    oi.ok()
    for n, box in enumerate(boxes):
        maildir_add(oi.folder(box), make_message(100 + n),
                    "%d.par%d.host" % (int(time.time()), n))
    oi.ok()
    for n, box in enumerate(boxes):
        got = sorted(b for _, _, b in maildir_messages(oi.folder(box)))
        remote = lf_bodies(server_mail(srv, box))
        assert got == remote, box
        assert len(remote) == 5 and lf_form(make_message(100 + n)) in remote
    logins = [l for l in srv.log().splitlines() if " login:" in l]
    assert len(logins) >= 4, logins


# ---- curl -----------------------------------------------------------------

def curl(srv, url_path, *args, port="imap", user="alice", password=PW):
    need(CURL, "curl")
    scheme = "imaps" if port == "imaps" else "imap"
    url = "%s://127.0.0.1:%d/%s" % (scheme, srv.ports[port], url_path)
    rc, out, err = run([CURL, "-s", "-S", "--max-time", "30",
                        "-u", "%s:%s" % (user, password)] + list(args) +
                       [url])
    return rc, out, err.decode(errors="replace")


def test_curl_list_fetch_search(srv):
    msgs = [make_message(i) for i in range(2)]
    for m in msgs:
        deliver(srv, m)
    remote = server_mail(srv)
    rc, out, err = curl(srv, "")
    assert rc == 0, err
    assert b'"INBOX"' in out or b" INBOX" in out, out
    assert b"Drafts" in out
    rc, out, err = curl(srv, "INBOX")
    assert rc == 0, err
    for uid in remote:
        rc, out, err = curl(srv, "INBOX;UID=%d" % uid)
        assert rc == 0, err
        assert out == remote[uid][1]
    rc, out, err = curl(srv, "INBOX", "-X", "UID SEARCH ALL")
    assert rc == 0, err
    assert out.strip() == b"* SEARCH " + \
        b" ".join(b"%d" % u for u in sorted(remote)), out
    rc, out, err = curl(srv, "", "-X", "EXAMINE INBOX")
    assert rc == 0, err
    assert b"* 2 EXISTS" in out, out
    # curl prints the untagged responses only, not the tagged OK.
    assert b"* OK [UIDVALIDITY " in out, out
    # A section fetch and a search with a criterion.
    rc, out, err = curl(srv, "INBOX;UID=%d;SECTION=HEADER.FIELDS%%20(SUBJECT)"
                        % min(remote))
    assert rc == 0, err
    assert out.strip() == b"Subject: test message 0", out
    rc, out, err = curl(srv, "INBOX?SUBJECT%20%22message%201%22")
    assert rc == 0, err
    assert out.strip() == b"* SEARCH %d" % max(remote), out
    # curl fetches with BODY[], which sets \Seen (RFC 9051 6.4.5).
    after = server_mail(srv)
    assert set(after) == set(remote)
    assert all("\\Seen" in f for f, _ in after.values()), after


def test_curl_sections_and_commands(srv):
    """URL parts of RFC 5092 curl knows (UIDVALIDITY, MAILINDEX,
    SECTION, PARTIAL) and raw commands with -X: STORE, EXPUNGE."""
    mime = (b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=XX\r\n")
    body = [b"--XX", b"Content-Type: text/plain", b"", b"part one",
            b"--XX", b"Content-Type: text/plain", b"", b"part two",
            b"--XX--"]
    deliver(srv, make_message(1, body_lines=body, extra=mime))
    big = make_message(2, body_lines=[b"%06d " % i + b"q" * 90
                                      for i in range(12000)])
    deliver(srv, big)
    remote = server_mail(srv)
    first, second = sorted(remote)
    m = imap(srv)
    typ, data = m.status("INBOX", "(UIDVALIDITY)")
    m.logout()
    uidv = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
    rc, out, err = curl(srv, "INBOX;UIDVALIDITY=%d/;UID=%d" % (uidv, second))
    assert rc == 0, err
    assert out == remote[second][1] and len(out) > 1000000
    rc, out, err = curl(srv, "INBOX;UIDVALIDITY=%d/;UID=%d"
                        % (uidv + 1, second))
    assert rc != 0, out[:200]
    rc, out, err = curl(srv, "INBOX;MAILINDEX=1")
    assert rc == 0, err
    assert out == remote[first][1]
    rc, out, err = curl(srv, "INBOX;UID=%d;SECTION=2" % first)
    assert rc == 0, err
    assert out == b"part two", out
    rc, out, err = curl(srv, "INBOX;UID=%d;SECTION=TEXT" % first)
    assert rc == 0, err
    assert remote[first][1].endswith(b"\r\n\r\n" + out)
    rc, out, err = curl(srv, "INBOX;UID=%d;PARTIAL=10.20" % second)
    assert rc == 0, err
    assert out == remote[second][1][10:30]
    rc, out, err = curl(srv, "INBOX", "-X", "UID STORE %d +FLAGS "
                        "(\\Deleted \\Flagged)" % first)
    assert rc == 0, err
    assert b"\\Deleted" in out and b"\\Flagged" in out, out
    rc, out, err = curl(srv, "INBOX", "-X", "EXPUNGE")
    assert rc == 0, err
    assert out.split(b"\r\n")[0] == b"* 1 EXPUNGE", out
    assert list(server_mail(srv)) == [second]


def test_curl_imaps_and_starttls(srv):
    msg = make_message(5)
    deliver(srv, msg)
    remote = server_mail(srv)
    uid = min(remote)
    rc, out, err = curl(srv, "INBOX;UID=%d" % uid, "-k", port="imaps")
    assert rc == 0, err
    assert out == remote[uid][1]
    rc, out, err = curl(srv, "INBOX;UID=%d" % uid, "--ssl-reqd", "-k")
    assert rc == 0, err
    assert out == remote[uid][1]
    rc, out, err = curl(srv, "INBOX;UID=%d" % uid, "--cacert",
                        cert_path(srv), "--ssl-reqd", "-k", port="imaps")
    assert rc == 0, err


@pytest.mark.parametrize("mech,user,password", [
    ("PLAIN", "alice", PW),
    ("LOGIN", "alice", PW),
    ("SCRAM-SHA-256", "carol", SCRAM_PW),
])
def test_curl_login_options(srv, mech, user, password):
    need(CURL, "curl")
    if mech.startswith("SCRAM"):
        # curl does SCRAM only through libgsasl.
        rc, out, _ = run([CURL, "-V"], timeout=10)
        if b"gsasl" not in out.lower():
            pytest.skip("this curl is built without gsasl: no SCRAM")
    deliver(srv, make_message(1), user=user)
    rc, out, err = curl(srv, "INBOX", "-v", "--login-options",
                        "AUTH=" + mech, user=user, password=password)
    assert rc == 0, err
    assert "AUTHENTICATE " + mech in err, err
    rc, out, err = curl(srv, "INBOX", "--login-options", "AUTH=" + mech,
                        user=user, password="wrong")
    assert rc != 0


def test_curl_append_and_wrong_password(srv):
    need(CURL, "curl")
    msg = make_message(7, subject="uploaded by curl")
    path = srv.dir + "/upload.eml"
    with open(path, "wb") as f:
        f.write(msg)
    rc, out, err = curl(srv, "Drafts", "-T", path)
    assert rc == 0, err
    assert bodies(server_mail(srv, "Drafts")) == [msg]
    rc, out, err = curl(srv, "INBOX", password="wrong")
    assert rc == 67, err  # login denied


# ---- fetchmail over IMAP --------------------------------------------------

def fetchmail(srv, tmp_path, mode, keep, out_name="fetched"):
    """Runs fetchmail once for alice over IMAP; mode is plain, starttls
    or imaps. Each message goes through the MDA into its own file."""
    need(FETCHMAIL, "fetchmail")
    home = tmp_path / "fetchmail"
    home.mkdir(exist_ok=True)
    out = tmp_path / out_name
    out.mkdir(exist_ok=True)
    before = set(os.listdir(out))
    if mode == "imaps":
        port, tls = srv.ports["imaps"], 'ssl sslproto "TLS1.2+" no sslcertck'
    elif mode == "starttls":
        port, tls = srv.ports["imap"], 'sslproto "TLS1.2+" no sslcertck'
    else:
        port, tls = srv.ports["imap"], 'sslproto ""'
    rc = home / "fetchmailrc"
    rc.write_text(
        'set no bouncemail\nset no syslog\nset invisible\n'
        'poll 127.0.0.1 with proto IMAP port %d timeout 20\n'
        '  user "alice" there with password "%s" is "alice" here\n'
        '  options %s fetchall no idle no rewrite no stripcr %s\n'
        '  mda "cat > $(mktemp %s/msg.XXXXXXXX)"\n' %
        (port, PW, "keep" if keep else "no keep", tls, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    r = subprocess.run([FETCHMAIL, "-f", str(rc), "-v", "--nodetach"],
                       capture_output=True, timeout=TIMEOUT, env=env)
    new = sorted(set(os.listdir(out)) - before)
    return (r.returncode, [(out / n).read_bytes() for n in new],
            (r.stdout + r.stderr).decode(errors="replace"))


@pytest.mark.parametrize("mode,keep", [
    ("plain", True),
    ("plain", False),
    ("starttls", True),
    ("starttls", False),
    ("imaps", True),
    ("imaps", False),
])
def test_fetchmail_imap(srv, tmp_path, mode, keep):
    for i in range(3):
        deliver(srv, make_message(i))
    before = server_mail(srv)
    rc, got, log = fetchmail(srv, tmp_path, mode, keep)
    assert rc == 0, log
    assert sorted(got) == bodies(before), log
    if mode == "starttls":
        assert "upgrade to TLS succeeded" in log, log
    after = server_mail(srv)
    if keep:
        assert bodies(after) == bodies(before)
        assert all("\\Seen" in f for f, _ in after.values()), after
    else:
        assert after == {}, after
    # Nothing left to fetch: exit code 1.
    rc, got, log = fetchmail(srv, tmp_path, mode, keep)
    if keep:
        assert rc == 0 and sorted(got) == bodies(before), log
    else:
        assert rc == 1 and got == [], log


def test_fetchmail_idle(srv, tmp_path):
    """fetchmail with idle, as a daemon polling only every 5 minutes:
    mail delivered while it waits in IDLE is fetched at once, so the
    push (an untagged EXISTS during IDLE, RFC 2177) reached it."""
    need(FETCHMAIL, "fetchmail")
    home = tmp_path / "fetchmail"
    home.mkdir()
    out = tmp_path / "fetched"
    out.mkdir()
    rc = home / "fetchmailrc"
    rc.write_text(
        'set no bouncemail\nset no syslog\nset invisible\n'
        'poll 127.0.0.1 with proto IMAP port %d timeout 60\n'
        '  user "alice" there with password "%s" is "alice" here\n'
        '  options no keep fetchall idle no rewrite no stripcr\n'
        '  sslproto "TLS1.2+" no sslcertck\n'
        '  mda "cat > $(mktemp %s/msg.XXXXXXXX)"\n' %
        (srv.ports["imap"], PW, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    deliver(srv, make_message(1))
    proc = subprocess.Popen([FETCHMAIL, "-f", str(rc), "-v", "--nodetach",
                             "-d", "300"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def wait_files(n, timeout=20):
            deadline = time.time() + timeout
            while time.time() < deadline:
                if len(os.listdir(out)) >= n:
                    return True
                time.sleep(0.1)
            return False
        assert wait_files(1)
        time.sleep(1)  # fetchmail is in IDLE by now
        deliver(srv, make_message(2))
        deliver(srv, make_message(3))
        assert wait_files(3), srv.log()[-3000:]
    finally:
        proc.terminate()
        try:
            log = proc.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.communicate()[0]
    log = log.decode(errors="replace")
    got = sorted((out / n).read_bytes() for n in os.listdir(out))
    assert len(got) == 3, log
    for i in range(1, 4):
        assert any(g.endswith(make_message(i)) for g in got), log
    assert "IDLE" in log, log
    assert server_mail(srv) == {}


# ---- neomutt --------------------------------------------------------------

class Neomutt:
    """neomutt in a detached tmux session of its own (own socket), driven
    with send-keys and read with capture-pane."""

    def __init__(self, srv, tmp_path, extra=""):
        need(NEOMUTT, "neomutt")
        need(TMUX, "tmux")
        self.srv = srv
        self.sock = str(tmp_path / "tmux.sock")
        self.session = "quire-neomutt"
        rc = tmp_path / "muttrc"
        rc.write_text(
            'set folder = "imap://alice@127.0.0.1:%d/"\n'
            'set spoolfile = "+INBOX"\n'
            'set imap_pass = "%s"\n'
            'set ssl_starttls = no\n'
            'set ssl_force_tls = no\n'
            'set imap_passive = no\n'
            'set mail_check = 1\n'
            'set timeout = 1\n'
            'set record = ""\n'
            'set move = no\n'
            'set confirmappend = no\n'
            'set confirmcreate = no\n'
            'set delete = yes\n'
            'set quit = yes\n'
            'set sort = subject\n'
            'set pager_stop = yes\n'
            'set wait_key = no\n'
            'set beep = no\n'
            'set tmpdir = "%s"\n%s' %
            (srv.ports["imap"], PW, tmp_path, extra))
        # -d 5: the IMAP conversation goes to the debug log.
        self.debug = tmp_path / ("neomutt-%d.log" % len(
            list(tmp_path.glob("neomutt-*"))))
        r = self.tmux("new-session", "-d", "-s", self.session, "-x", "150",
                      "-y", "40", "env HOME=%s TERM=xterm %s -n -F %s "
                      "-d 5 -l %s" % (tmp_path, NEOMUTT, rc, self.debug))
        assert r.returncode == 0, r.stderr

    def trace(self):
        """The debug log (neomutt puts a number after the name)."""
        names = sorted(glob.glob(str(self.debug) + "*"))
        assert names, self.debug
        with open(names[-1], "rb") as f:
            return f.read()

    def tmux(self, *args):
        return subprocess.run([TMUX, "-S", self.sock] + list(args),
                              capture_output=True, timeout=20)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t",
                         self.session).stdout.decode(errors="replace")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text, gone=False, timeout=20):
        deadline = time.time() + timeout
        s = ""
        while time.time() < deadline:
            s = self.screen()
            if (text in s) != gone:
                return s
            time.sleep(0.2)
        raise AssertionError("%r %s on screen:\n%s\n--- server log:\n%s"
                             % (text, "still" if gone else "not", s,
                                self.srv.log()[-5000:]))

    def quit(self):
        self.keys("q")
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.tmux("has-session", "-t", self.session).returncode:
                return
            time.sleep(0.2)
        raise AssertionError("neomutt did not quit:\n" + self.screen())

    def close(self):
        self.tmux("kill-server")


@pytest.fixture
def neomutt(srv, tmp_path):
    muts = []

    def make(extra='set header_cache = ""\nset message_cachedir = ""\n'):
        n = Neomutt(srv, tmp_path, extra)
        muts.append(n)
        return n
    yield make
    for n in muts:
        n.close()


def test_neomutt_reads_inbox(srv, neomutt):
    """Opens INBOX over imap://, shows the subjects, opens one message
    (which sets \\Seen on it alone), quits."""
    deliver(srv, make_message(1, subject="a hello from quire"))
    deliver(srv, make_message(2, subject="b second message here"))
    nm = neomutt()
    s = nm.wait_for("b second message here")
    assert "a hello from quire" in s
    nm.keys("Enter")
    nm.wait_for("Hello number 1.")
    nm.keys("q")
    nm.wait_for("Hello number 1.", gone=True)
    nm.quit()
    mail = server_mail(srv)
    seen = [b for f, b in mail.values() if "\\Seen" in f]
    assert len(seen) == 1 and b"a hello from quire" in seen[0], mail


def test_neomutt_idle_delete_save(srv, neomutt):
    """With IDLE on, mail delivered while INBOX is open shows up; a
    message copied or saved to another folder gets there (saved, it
    leaves INBOX); a message deleted and the mailbox synced is expunged
    on the server."""
    deliver(srv, make_message(1, subject="a first"))
    deliver(srv, make_message(2, subject="b second"))
    m = imap(srv)
    assert m.create("Saved")[0] == "OK"
    m.logout()
    nm = neomutt("set imap_idle = yes\n")
    nm.wait_for("b second")
    deliver(srv, make_message(3, subject="c arrived while idling"))
    nm.wait_for("c arrived while idling", timeout=30)
    # Save (copy, then delete) the first message to Saved.
    nm.keys("=")
    nm.keys("C")
    nm.wait_for("Copy to")
    nm.keys("C-u", "=Saved", "Enter")
    nm.wait_for("Copy to", gone=True)
    # Save (move: UID MOVE) the third there too.
    nm.keys("=", "j", "j", "s")
    nm.wait_for("Save to")
    nm.keys("C-u", "=Saved", "Enter")
    nm.wait_for("Save to", gone=True)
    # Delete the second, sync ($) so the deletions are expunged.
    nm.keys("=", "j", "d", "$")
    nm.wait_for("b second", gone=True)
    nm.wait_for("c arrived while idling", gone=True)
    nm.quit()

    def subjects(mail):
        return sorted(re.search(rb"Subject: ([^\r]*)", b).group(1)
                      for _, b in mail.values())
    assert subjects(server_mail(srv)) == [b"a first"]
    assert subjects(server_mail(srv, "Saved")) == \
        [b"a first", b"c arrived while idling"]


@pytest.mark.parametrize("qresync", [True, False])
def test_neomutt_header_cache_resync(srv, neomutt, tmp_path, qresync):
    """With a header cache neomutt reopens INBOX from what it stored: it
    asks for the flags CHANGEDSINCE its cached modseq (CONDSTORE), and
    with QRESYNC enabled adds VANISHED to learn of expunges (RFC 7162
    3.2.6). Changes made between two runs (an expunge, a flag, a new
    message) must all show."""
    for i, subj in enumerate(("a one", "b two", "c three")):
        deliver(srv, make_message(i, subject=subj))
    cache = tmp_path / "hcache"
    cache.mkdir()
    rc = ('set header_cache = "%s/"\n'
          'set message_cachedir = "%s/bodies"\n'
          'set imap_condstore = yes\n'
          'set imap_qresync = %s\n' %
          (cache, cache, "yes" if qresync else "no"))
    nm = neomutt(rc)
    s = nm.wait_for("c three")
    assert "a one" in s and "b two" in s
    nm.quit()
    remote = server_mail(srv)
    by_subject = {re.search(rb"Subject: ([^\r]*)", b).group(1): u
                  for u, (_, b) in remote.items()}
    store(srv, "INBOX", by_subject[b"a one"], "+FLAGS", "(\\Flagged)")
    store(srv, "INBOX", by_subject[b"b two"], "+FLAGS", "(\\Deleted)",
          expunge=True)
    deliver(srv, make_message(5, subject="d four"))
    nm = neomutt(rc)
    s = nm.wait_for("d four")
    assert "b two" not in s, s
    line = [l for l in s.splitlines() if "a one" in l][0]
    assert "!" in line, s  # neomutt marks \\Flagged with "!"
    assert "c three" in s
    nm.quit()
    trace = nm.trace()
    assert re.search(rb"CHANGEDSINCE \d+", trace)
    if qresync:
        assert b"< * ENABLED QRESYNC" in trace
        assert b"< * VANISHED (EARLIER) %d" % by_subject[b"b two"] in trace


# ---- regressions the clients above found, pinned with imaplib -------------

def test_move_into_selected_mailbox(srv):
    """mbsync with a server-side Trash moves the \\Deleted messages of
    Trash into Trash. That is a copy and an expunge of the originals
    (RFC 6851 3.3): new UIDs, flags kept, COPYUID, EXPUNGE."""
    m = imap(srv)
    for i in range(3):
        assert m.append("Trash", "(\\Seen)", None,
                        make_message(i))[0] == "OK"
    typ, data = m.select("Trash")
    assert typ == "OK" and data == [b"3"]
    typ, data = m.uid("STORE", "1,3", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK"
    typ, data = m.uid("MOVE", "1,3", "Trash")
    assert typ == "OK", data
    copyuid = m.untagged_responses.pop("OK", [b""])[0]
    assert re.match(rb"\[COPYUID \d+ 1,3 4:5\]", copyuid), copyuid
    # The two originals, whichever order the sequence numbers allow.
    assert m.untagged_responses.pop("EXPUNGE") in ([b"1", b"2"],
                                                   [b"3", b"1"])
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    got = sorted(re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", d).groups()
                 for d in data)
    # imaplib speaks IMAP4rev1: this session claimed all three as \Recent.
    assert got == [(b"2", b"\\Recent \\Seen"),
                   (b"4", b"\\Recent \\Seen \\Deleted"),
                   (b"5", b"\\Recent \\Seen \\Deleted")], got
    # A plain COPY into the selected mailbox still makes copies.
    typ, data = m.uid("COPY", "2", "Trash")
    assert typ == "OK", data
    assert m.select("Trash")[1] == [b"4"]
    m.logout()
