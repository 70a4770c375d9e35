"""FETCH of every item kind over imaplib, compared with the bytes of the
delivered message; STORE, COPY/MOVE, EXPUNGE, APPEND."""

import base64
import imaplib
import re

import pytest

from helpers import LMTP, make_message
from test_imap import PW, connect, deliver, imap_server  # noqa: F401

PART1 = b"Plain text part.\r\nSecond line.\r\n"
PART2_RAW = bytes(range(256)) * 4
PART2 = base64.encodebytes(PART2_RAW).replace(b"\n", b"\r\n")
INNER = (b"From: Inner <inner@example.org>\r\n"
         b"Subject: inner\r\n\r\n"
         b"Inner body.\r\n")

HEADER = (b"From: Sender <sender@example.org>\r\n"
          b"To: rcpt@example.org\r\n"
          b"Subject: multipart test\r\n"
          b"Message-ID: <mp-1@example.org>\r\n"
          b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"BND\"\r\n"
          b"\r\n")
P1_HDR = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
P2_HDR = (b"Content-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n")
P3_HDR = b"Content-Type: message/rfc822\r\n\r\n"
BODY = (b"preamble\r\n--BND\r\n" + P1_HDR + PART1 +
        b"\r\n--BND\r\n" + P2_HDR + PART2 +
        b"\r\n--BND\r\n" + P3_HDR + INNER +
        b"\r\n--BND--\r\n")
MSG = HEADER + BODY


def fetch1(m, item, uid=False):
    if uid:
        typ, data = m.uid("FETCH", "1", item)
    else:
        typ, data = m.fetch("1", item)
    assert typ == "OK", data
    return data


def literal(data):
    """The first literal of a FETCH reply."""
    for d in data:
        if isinstance(d, tuple):
            return d[1]
    raise AssertionError(data)


@pytest.fixture
def box(imap_server):
    deliver(imap_server, "alice", MSG)
    m = connect(imap_server)
    m.select("INBOX")
    # LMTP adds trace lines at the top; the stored message ends with ours.
    full = literal(fetch1(m, "(BODY.PEEK[])"))
    assert full.endswith(MSG)
    return m, full


def test_fetch_body_sections(box):
    m, full = box
    prefix = full[:len(full) - len(MSG)]
    hdr = prefix + HEADER
    assert literal(fetch1(m, "(BODY.PEEK[HEADER])")) == hdr
    assert literal(fetch1(m, "(BODY.PEEK[TEXT])")) == BODY
    assert literal(fetch1(m, "(BODY.PEEK[1])")) == PART1
    assert literal(fetch1(m, "(BODY.PEEK[1.MIME])")) == P1_HDR
    assert literal(fetch1(m, "(BODY.PEEK[2])")) == PART2
    assert literal(fetch1(m, "(BODY.PEEK[3])")) == INNER
    assert literal(fetch1(m, "(BODY.PEEK[3.HEADER])")) == \
        INNER[:INNER.index(b"\r\n\r\n") + 4]
    assert literal(fetch1(m, "(BODY.PEEK[3.TEXT])")) == b"Inner body.\r\n"
    assert literal(fetch1(m, "(BODY.PEEK[3.1])")) == b"Inner body.\r\n"
    assert literal(fetch1(m, "(BODY.PEEK[]<5.10>)")) == full[5:15]
    data = fetch1(m, "(BODY.PEEK[]<5.10>)")
    assert b"BODY[]<5>" in data[0][0]
    assert literal(fetch1(m, "(BODY.PEEK[HEADER.FIELDS (Subject TO)])")) == \
        b"To: rcpt@example.org\r\nSubject: multipart test\r\n\r\n"
    nf = literal(fetch1(m, "(BODY.PEEK[HEADER.FIELDS.NOT (Subject To "
                        "Content-Type)])"))
    assert b"Subject" not in nf and b"From: Sender" in nf
    assert nf.endswith(b"\r\n\r\n")
    data = fetch1(m, "(BODY.PEEK[9])")
    assert b"BODY[9] NIL" in data[0]


def test_fetch_rfc822_and_seen(box):
    m, full = box
    data = fetch1(m, "(FLAGS)")
    assert b"\\Seen" not in data[0]
    assert literal(fetch1(m, "(RFC822.HEADER)")) == \
        full[:full.index(b"\r\n\r\n") + 4]
    data = fetch1(m, "(FLAGS)")
    assert b"\\Seen" not in data[0]
    data = fetch1(m, "(RFC822.TEXT)")
    assert literal(data) == BODY
    assert b"FLAGS (\\Seen)" in data[0][0] or b"\\Seen" in data[1]
    assert literal(fetch1(m, "(RFC822)")) == full
    data = fetch1(m, "(FLAGS)")
    assert b"\\Seen" in data[0]


def test_fetch_binary(box):
    m, full = box
    data = fetch1(m, "(BINARY.SIZE[2] BINARY.SIZE[1])")
    assert b"BINARY.SIZE[2] %d" % len(PART2_RAW) in data[0]
    assert b"BINARY.SIZE[1] %d" % len(PART1) in data[0]
    # imaplib does not read ~{n}; a part without NULs comes as {n}.
    assert literal(fetch1(m, "(BINARY.PEEK[1])")) == PART1
    # The raw socket: literal8 for the decoded binary part.
    m.send(b"x1 FETCH 1 (BINARY.PEEK[2]<0.300>)\r\n")
    line = m.readline()
    assert re.match(rb"\* 1 FETCH \(BINARY\[2\]<0> ~\{300\}\r\n", line), line
    got = m.read(300)
    assert got == PART2_RAW[:300]
    rest = m.readline()
    assert rest == b")\r\n"
    assert m.readline().startswith(b"x1 OK")


def test_fetch_structure_items(box):
    m, full = box
    data = fetch1(m, "(UID RFC822.SIZE INTERNALDATE FLAGS ENVELOPE)")
    head = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b"UID 1" in head
    assert b"RFC822.SIZE %d" % len(full) in head
    assert re.search(rb'INTERNALDATE "\d\d-\w\w\w-\d{4} \d\d:\d\d:\d\d '
                     rb'[+-]\d{4}"', head)
    assert b'"multipart test"' in head
    assert b'(("Sender" NIL "sender" "example.org"))' in head
    data = fetch1(m, "(BODYSTRUCTURE)")
    text = b"".join(d if isinstance(d, bytes) else d[0] + d[1]
                    for d in data)
    assert b'"mixed"' in text.lower()
    assert b'("boundary" "BND")' in text
    data = fetch1(m, "BODY")
    assert b'"BND"' not in data[0]
    data = fetch1(m, "ALL")
    assert b"ENVELOPE" in data[0]
    data = fetch1(m, "FAST")
    assert b"ENVELOPE" not in data[0] and b"RFC822.SIZE" in data[0]
    data = fetch1(m, "FULL")
    assert b"BODY (" in data[0]
    # UID FETCH always reports UID.
    data = fetch1(m, "(FLAGS)", uid=True)
    assert b"UID 1" in data[0]


def test_fetch_bad(box):
    m, full = box
    for bad in ("(BODY[HEADER.FIELDS])", "(FOO)", "(BODY[1.X])",
                "(BINARY[TEXT])", "(BODY[]<1>)"):
        with pytest.raises(imaplib.IMAP4.error):
            m.fetch("1", bad)
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("5", "(FLAGS)")
    typ, data = m.uid("FETCH", "99", "(FLAGS)")
    assert typ == "OK" and data == [None]


def test_store_flags(box):
    m, full = box
    typ, data = m.store("1", "+FLAGS", "(\\Flagged $Label1)")
    assert typ == "OK"
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    typ, data = m.store("1", "-FLAGS", "(\\Flagged)")
    assert b"\\Flagged" not in data[0]
    typ, data = m.store("1", "FLAGS.SILENT", "(\\Seen)")
    assert typ == "OK" and data == [None]
    data = fetch1(m, "(FLAGS)")
    # This session SELECTed the new message first: it is \Recent here.
    assert b"FLAGS (\\Recent \\Seen)" in data[0]
    typ, data = m.uid("STORE", "1", "+FLAGS", "(\\Answered)")
    assert b"UID 1" in data[0]
    # \Recent cannot be changed by the client: ignored (RFC 3501 2.3.2).
    typ, data = m.store("1", "-FLAGS", "(\\Recent)")
    assert typ == "OK"
    assert b"\\Recent" in fetch1(m, "(FLAGS)")[0]


def test_copy_move_expunge(imap_server):
    for i in range(4):
        deliver(imap_server, "alice", make_message(i))
    m = connect(imap_server)
    m.select("INBOX")
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK"
    assert re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0]), data
    typ, data = m.copy("1", "Nope")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    typ, data = m._simple_command("MOVE", "3", "Trash")
    assert typ == "OK"
    assert m.untagged_responses.get("EXPUNGE") == [b"3"]
    m.untagged_responses.clear()
    m.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = m.expunge()
    assert data == [b"1"]
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    typ, data = m.status("Archive", "(MESSAGES)")
    assert b"MESSAGES 2" in data[0]
    typ, data = m.status("Trash", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    # UID EXPUNGE only touches the given UIDs.
    m.store("1:2", "+FLAGS", "(\\Deleted)")
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    uids = [re.search(rb"UID (\d+)", d).group(1) for d in data]
    typ, data = m.uid("EXPUNGE", uids[0].decode())
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert data == [b"1"]
    m.close()
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 0" in data[0]
    m.logout()


def test_append_fetch_identical(imap_server):
    m = connect(imap_server)
    msg = make_message(7) + b"\x80\xff bytes\r\n" * 1000
    typ, data = m.append("INBOX", "(\\Flagged $Work)",
                         '"05-Mar-2024 10:11:12 +0100"', msg)
    assert typ == "OK"
    assert re.match(rb"\[APPENDUID \d+ 1\]", data[0]), data
    typ, data = m.append("Missing", None, None, msg)
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.select("INBOX")
    data = fetch1(m, "(BODY.PEEK[] FLAGS INTERNALDATE)")
    assert literal(data) == msg
    tail = b"".join(d if isinstance(d, bytes) else d[0] for d in data)
    assert b"\\Flagged" in tail and b"$Work" in tail
    assert b'"05-Mar-2024 10:11:12 +0100"' in tail or \
        b'"05-Mar-2024 09:11:12 +0000"' in tail
    data = fetch1(m, "(ENVELOPE)")
    assert b'"test message 7"' in data[0]
    m.logout()


def test_examine_namespace_unselect_check(imap_server):
    deliver(imap_server, "alice", make_message(1))
    m = connect(imap_server)
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    m.select("INBOX", readonly=True)
    assert literal(fetch1(m, "(BODY[])")).endswith(make_message(1))
    assert b"\\Seen" not in fetch1(m, "(FLAGS)")[0]
    typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "NO" and b"READ-ONLY" in data[0]
    assert m.copy("1", "Archive")[0] == "OK"
    assert m.check()[0] == "OK"
    typ, data = m._simple_command("UNSELECT")
    assert typ == "OK"
    assert m.state == "SELECTED"  # imaplib does not know UNSELECT
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "(FLAGS)")
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY[])")
    assert b"\\Seen" in fetch1(m, "(FLAGS)")[0]
    m.logout()


def test_single_part_and_qp_binary(imap_server):
    qp_body = b"caf=C3=A9 =3D ok=\r\nsoft break\r\n"
    msg = (b"From: a@example.org\r\nSubject: qp\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp_body)
    m = connect(imap_server)
    assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    assert literal(fetch1(m, "(BODY.PEEK[1])")) == qp_body
    assert literal(fetch1(m, "(BODY.PEEK[TEXT])")) == qp_body
    decoded = "café = oksoft break\r\n".encode()
    assert literal(fetch1(m, "(BINARY.PEEK[1])")) == decoded
    data = fetch1(m, "(BINARY.SIZE[1])")
    assert b"BINARY.SIZE[1] %d" % len(decoded) in data[0]
    data = fetch1(m, "(BODY.PEEK[2])")
    assert b"BODY[2] NIL" in data[0]
    m.logout()
