"""The full-text index over IMAP: every text key of SEARCH (non-ASCII
strings too) answered from the index with the same UIDs as reading the
messages, messages added by APPEND, LMTP delivery and COPY indexed, a
search that needs no message file, and `quire reindex`."""

import glob
import imaplib
import os
import sqlite3
import time

import pytest

from test_imap_search import imap_answers

PW = "fts-pw-1"


@pytest.fixture
def imap_server(server):
    try:
        server.add_user("alice", PW)
        # index at once: the tests below wait for the indexer; shared
        # locking: they read and change store.db while quired runs
        server.extra_conf = ("[search]\nindex_delay = 0\n"
                             "[server]\nstore_locking = shared\n")
        server.write_conf()
        server.start(wait=("imap", "lmtp"))
    except AssertionError as e:
        pytest.skip("quired cannot run an IMAP server here: %s"
                    % str(e).splitlines()[0])
    if not imap_answers(server.ports["imap"]):
        pytest.skip("the IMAP port does not answer with a greeting")
    return server


MESSAGES = [
    # 1: plain ASCII
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Hello world\r\n"
    b"X-Custom: Foo Bar\r\n"
    b"\r\n"
    b"The quick brown fox\r\n",
    # 2: RFC 2047 subject and sender, base64 UTF-8 body
    b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\n"
    b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"V2lyIHdvaG5lbiBpbiBkZXIgSGF1cHRzdHJhw59lIDUuCg==\r\n",
    # 3: ISO-8859-1 quoted-printable, Cc and Bcc with comments
    b"From: pierre@example.fr\r\n"
    b"Cc: Marie (soeur) <marie @ example.fr>\r\n"
    b"Bcc: hidden@example.fr\r\n"
    b"Subject: =?ISO-8859-1?Q?Re=3A_caf=E9?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Un caf=E9 cr=E8me, s'il vous pla=EEt.\r\n",
    # 4: multipart: HTML, a binary attachment, a text attachment
    b"From: carol@example.net\r\n"
    b"Subject: report\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"\r\n"
    b"<p>Hello <b>HTML</b> world &amp; more</p>\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"c2VjcmV0IHBheWxvYWQ=\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; name=\"notes.txt\"\r\n"
    b"\r\n"
    b"attached notes about STRASSE\r\n"
    b"--b1--\r\n",
]

# Delivered over LMTP (quire deliver hands it to the daemon): UID 5.
DELIVERED = (b"From: Dave <dave@example.com>\r\n"
             b"To: alice@example.org\r\n"
             b"Subject: delivered fox\r\n"
             b"\r\n"
             b"K\xc3\xb6nig of the delivered body\r\n")


def search(m, *keys, uid=False):
    """SEARCH keys; bytes with 8-bit go as a literal with CHARSET UTF-8."""
    args = []
    charset = None
    for k in keys:
        if isinstance(k, bytes) and max(k) > 127:
            m.literal = k
            charset = "UTF-8"
        else:
            args.append(k)
    if uid:
        typ, data = m.uid("SEARCH", charset, *args)
    else:
        typ, data = m.search(charset, *args)
    assert typ == "OK", data
    return data[0].decode().split()


@pytest.fixture
def mailbox(imap_server):
    m = imaplib.IMAP4("127.0.0.1", imap_server.ports["imap"], timeout=30)
    m.login("alice", PW)
    for msg in MESSAGES:
        typ, data = m.append("INBOX", "()", None, msg)
        assert typ == "OK", data
    imap_server.cli("deliver", "-u", "alice", input=DELIVERED)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"5"], data
    yield m
    try:
        m.logout()
    except Exception:
        pass


def store_db(server):
    paths = glob.glob(os.path.join(server.data, "users", "*", "alice",
                                   "store.db"))
    assert len(paths) == 1
    return paths[0]


def db_query(server, sql):
    db = sqlite3.connect(store_db(server), timeout=10)
    try:
        rows = db.execute(sql).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def wait_indexed(server, timeout=20):
    """The daemon's background indexer writes rows (and drops those of
    messages that went) within a second or so of a change: wait until it
    has nothing left, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        pending = db_query(server, "SELECT COUNT(*) FROM blobs "
                           "WHERE fts IS NULL")[0][0]
        garbage = db_query(server, "SELECT COUNT(*) FROM fts_garbage")[0][0]
        if pending == 0 and garbage == 0:
            return
        assert time.monotonic() < deadline, (pending, garbage)
        time.sleep(0.1)


KEYS = [
    (("SUBJECT", "hello"), "1"),
    (("SUBJECT", '"HELLO WOR"'), "1"),
    (("SUBJECT", "caf\u00e9".encode()), "3"),
    (("SUBJECT", "CAF\u00c9".encode()), "3"),
    (("SUBJECT", "gr\u00fc\u00dfe".encode()), "2"),
    # RFC 5051: sharp s has no simple titlecase, it is not "SS"
    (("SUBJECT", "GR\u00dcSSE".encode()), ""),
    (("SUBJECT", "GR\u00dc\u00dfE".encode()), "2"),
    (("SUBJECT", "re"), "3 4 5"),
    (("FROM", "alice"), "1"),
    (("FROM", "J\u00fcrgen".encode()), "2"),
    (("FROM", "dave@example.com"), "5"),
    (("TO", "bob"), "1"),
    (("TO", "alice@"), "5"),
    (("CC", "marie@example.fr"), "3"),
    (("CC", "soeur"), "3"),
    (("BCC", "hidden"), "3"),
    (("HEADER", "X-Custom", '"foo b"'), "1"),
    (("HEADER", "x-custom", '""'), "1"),
    (("HEADER", "Content-Type", "multipart"), "4"),
    (("BODY", "quick"), "1"),
    (("BODY", "HAUPTSTRASSE"), ""),
    (("BODY", "STRASSE"), "4"),
    (("BODY", "HAUPTSTRA\u00dfE".encode()), "2"),
    (("BODY", "Hauptstra\u00dfe".encode()), "2"),
    (("BODY", "cr\u00e8me".encode()), "3"),
    (("BODY", "k\u00f6nig".encode()), "5"),
    (("BODY", '"html world & more"'), "4"),
    (("BODY", "secret"), ""),
    (("BODY", "fo"), "1"),
    (("TEXT", "fox"), "1 5"),
    (("TEXT", "notes.txt"), "4"),
    (("TEXT", "data.bin"), "4"),
    (("TEXT", "x-custom"), "1"),
    (("TEXT", "alice"), "1 5"),
    (("TEXT", "\u00fc".encode()), "2"),
    (("NOT", "TEXT", "fox"), "2 3 4"),
    (("OR", "SUBJECT", "report", "BODY", "quick"), "1 4"),
]

QUERIES = [k for k, _ in KEYS]


@pytest.mark.parametrize("keys,want", KEYS)
def test_text_keys(mailbox, keys, want):
    assert search(mailbox, *keys) == want.split()
    if not any(isinstance(k, bytes) for k in keys):
        # UIDs are 1..5 too.
        assert search(mailbox, *keys, uid=True) == want.split()


def test_rows_written(mailbox, imap_server):
    # APPEND and LMTP delivery both got complete rows, from the indexer.
    wait_indexed(imap_server)
    rows = db_query(imap_server, "SELECT COUNT(*) FROM blobs WHERE fts = 1")
    assert rows == [(5,)]
    # COPY shares the blob and its row.
    typ, _ = mailbox.create("Other")
    assert typ == "OK"
    typ, _ = mailbox.copy("1:2", "Other")
    assert typ == "OK"
    assert db_query(imap_server, "SELECT COUNT(*) FROM fts") == [(5,)]
    typ, _ = mailbox.select("Other")
    assert search(mailbox, "TEXT", "fox") == ["1"]


def blob_files(server):
    return [p for p in glob.glob(os.path.join(os.path.dirname(
        store_db(server)), "blobs", "*", "*"))]


def test_no_message_file_read(mailbox, imap_server):
    """With every file moved away, text searches still give the right
    UIDs: they came from the index, not from the files."""
    wait_indexed(imap_server)
    files = blob_files(imap_server)
    assert len(files) == 5
    for p in files:
        os.rename(p, p + ".away")
    try:
        for keys, want in KEYS:
            assert search(mailbox, *keys) == want.split(), keys
        # SORT's search part uses the index too.
        typ, data = mailbox.sort("(ARRIVAL)", "UTF-8", "TEXT", "fox")
        assert typ == "OK" and data[0].split() == [b"1", b"5"], data
    finally:
        for p in files:
            os.rename(p + ".away", p)


def test_index_equals_scan_and_reindex(mailbox, imap_server):
    indexed = [search(mailbox, *k) for k in QUERIES]
    # Drop every row: SEARCH reads the messages instead.
    db_query(imap_server, "DELETE FROM fts")
    db_query(imap_server, "UPDATE blobs SET fts = NULL")
    scanned = [search(mailbox, *k) for k in QUERIES]
    assert indexed == scanned
    # Rebuilt while quired runs.
    r = imap_server.cli("reindex", "alice")
    assert b"5 messages indexed" in r.stdout
    assert db_query(imap_server,
                    "SELECT COUNT(*) FROM blobs WHERE fts = 1") == [(5,)]
    files = blob_files(imap_server)
    for p in files:
        os.rename(p, p + ".away")
    try:
        again = [search(mailbox, *k) for k in QUERIES]
    finally:
        for p in files:
            os.rename(p + ".away", p)
    assert again == indexed


def test_reindex_errors(imap_server):
    r = imap_server.cli("reindex", "nobody", check=False)
    assert r.returncode == 67
    assert b"user unknown" in r.stderr
    r = imap_server.cli("reindex", check=False)
    assert r.returncode == 64


def test_reindex_daemon_stopped(mailbox, imap_server):
    mailbox.logout()
    db_query(imap_server, "DELETE FROM fts")
    db_query(imap_server, "UPDATE blobs SET fts = NULL")
    imap_server.stop()
    r = imap_server.cli("reindex", "alice")
    assert b"5 messages indexed" in r.stdout
    assert db_query(imap_server, "SELECT COUNT(*) FROM fts") == [(5,)]


def test_rows_of_expunged_messages_go(mailbox, imap_server):
    """An expunge leaves the message's row to the indexer, which removes
    it; searches meanwhile never show the expunged message."""
    wait_indexed(imap_server)
    assert db_query(imap_server, "SELECT COUNT(*) FROM fts") == [(5,)]
    typ, _ = mailbox.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK"
    typ, _ = mailbox.expunge()
    assert typ == "OK"
    assert search(mailbox, "TEXT", "fox") == ["4"]
    wait_indexed(imap_server)
    assert db_query(imap_server, "SELECT COUNT(*) FROM fts") == [(4,)]


def test_index_delay(server):
    """[search] index_delay: new mail gets its rows only once the first
    unindexed change is that old; searches meanwhile read the message."""
    server.add_user("alice", PW)
    server.extra_conf = ("[search]\nindex_delay = 3\n"
                         "[server]\nstore_locking = shared\n")
    server.write_conf()
    server.start(wait=("imap", "lmtp"))
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    try:
        m.login("alice", PW)
        typ, data = m.append("INBOX", "()", None, MESSAGES[0])
        assert typ == "OK", data
        m.select("INBOX")
        assert search(m, "TEXT", "fox") == ["1"]
        time.sleep(1)
        assert db_query(server, "SELECT COUNT(*) FROM blobs "
                        "WHERE fts IS NULL") == [(1,)]
        wait_indexed(server)
        assert search(m, "TEXT", "fox") == ["1"]
    finally:
        m.logout()


def test_reindex_by_exclusive_daemon(server):
    """With the default store_locking = exclusive, quired keeps an open
    user's database to itself: another program is told it is locked,
    and `quire reindex` has the daemon rebuild the rows."""
    server.add_user("alice", PW)
    server.start(wait=("imap", "lmtp"))
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    try:
        m.login("alice", PW)
        for msg in MESSAGES[:2]:
            typ, data = m.append("INBOX", "()", None, msg)
            assert typ == "OK", data
        m.select("INBOX")
        db = sqlite3.connect(store_db(server), timeout=0.2)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db.execute("SELECT COUNT(*) FROM messages").fetchall()
        finally:
            db.close()
        r = server.cli("reindex", "alice")
        assert b"alice: 2 messages indexed" in r.stdout, r.stdout
        assert search(m, "TEXT", "fox") == ["1"]
    finally:
        m.logout()
