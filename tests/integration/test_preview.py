"""PREVIEW (RFC 8970) over imaplib: the text of the first text/plain or
text/html part with transfer encoding and charset undone, HTML turned
into text, whitespace collapsed, at most 200 characters; "" when there is
no text; PREVIEW (LAZY) spelled both ways."""

import base64
import re

import pytest

from test_imap import connect, deliver, imap_server  # noqa: F401

HEAD = (b"From: Sender <sender@example.org>\r\n"
        b"To: rcpt@example.org\r\n"
        b"Subject: preview\r\n"
        b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n")

PLAIN = (HEAD + b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
         b"  Hello   there,\r\n\r\n\tthis is \"a\" test\\.\r\n")

ALTERNATIVE = (HEAD +
               b"Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
               b"\r\n"
               b"--alt\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
               b"Plain version.\r\n"
               b"--alt\r\n"
               b"Content-Type: text/html; charset=utf-8\r\n\r\n"
               b"<p>HTML version.</p>\r\n"
               b"--alt--\r\n")

HTML = (HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><title>Title</title><style>p {color: red}</style>"
        b"</head><body>\r\n<p>Hi &amp; <b>welcome</b></p><br>"
        b"Second&nbsp;line<!-- a comment --></body></html>\r\n")

UTF8_TEXT = "Grüße aus München – schön!"
BASE64 = (HEAD + b"Content-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n" +
          base64.encodebytes(UTF8_TEXT.encode()).replace(b"\n", b"\r\n"))

LATIN1 = (HEAD + b"Content-Type: text/plain; charset=iso-8859-1\r\n"
          b"Content-Transfer-Encoding: 8bit\r\n\r\n"
          b"caf\xe9 cr\xe8me\r\n")

QP = (HEAD + b"Content-Type: text/plain; charset=utf-8\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      b"soft=\r\nbreak =E2=82=AC5\r\n")

ATTACHMENT_ONLY = (HEAD +
                   b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                   b"--b\r\n"
                   b"Content-Type: application/pdf\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\n"
                   b"JVBERi0xLjQK\r\n"
                   b"--b\r\n"
                   b"Content-Type: text/plain\r\n"
                   b"Content-Disposition: attachment; filename=a.txt\r\n\r\n"
                   b"attached text\r\n"
                   b"--b--\r\n")

LONG = (HEAD + b"Content-Type: text/plain\r\n\r\n" +
        b" ".join(b"word%d" % i for i in range(200)) + b"\r\n")

CASES = [
    (PLAIN, 'Hello there, this is "a" test\\.'),
    (ALTERNATIVE, "Plain version."),
    (HTML, "Hi & welcome Second line"),
    (BASE64, UTF8_TEXT),
    (LATIN1, "café crème"),
    (QP, "softbreak €5"),
    (ATTACHMENT_ONLY, ""),
]


def preview_of(data):
    """The PREVIEW value of a one-message FETCH reply: str, or None for
    NIL."""
    first = data[0]
    if isinstance(first, tuple):
        assert re.search(rb"PREVIEW \{\d+\}$", first[0]), data
        return first[1].decode("utf-8")
    mo = re.search(rb'PREVIEW (NIL|"((?:[^"\\]|\\.)*)")', first)
    assert mo, data
    if mo.group(1) == b"NIL":
        return None
    return re.sub(rb"\\(.)", rb"\1", mo.group(2)).decode("utf-8")


def fetch_preview(m, seq, item="(PREVIEW)", uid=False):
    if uid:
        typ, data = m.uid("FETCH", str(seq), item)
    else:
        typ, data = m.fetch(str(seq), item)
    assert typ == "OK", data
    return preview_of(data)


@pytest.fixture
def delivered(imap_server):
    for msg, _ in CASES:
        deliver(imap_server, "alice", msg)
    m = connect(imap_server)
    m.select("INBOX")
    return m


def test_preview_texts(delivered):
    m = delivered
    for i, (_, want) in enumerate(CASES):
        assert fetch_preview(m, i + 1) == want, CASES[i][0]


def test_preview_long_capped(imap_server):
    deliver(imap_server, "alice", LONG)
    m = connect(imap_server)
    m.select("INBOX")
    got = fetch_preview(m, 1)
    assert 150 <= len(got) <= 200, got
    assert got.startswith("word0 word1 word2")
    assert "  " not in got and got == got.strip()


def test_preview_lazy(delivered):
    """Delivery parses the message, so LAZY has the preview at once (the
    NIL case, a message saved without its parse record, is in the unit
    tests). Both spellings: in a list and as the lone item."""
    m = delivered
    assert fetch_preview(m, 1, "(PREVIEW (LAZY))") == CASES[0][1]
    assert fetch_preview(m, 1, "PREVIEW (LAZY)", uid=True) == CASES[0][1]
    typ, data = m.fetch("2", "(ENVELOPE PREVIEW (LAZY) UID)")
    assert typ == "OK"
    assert b'PREVIEW "Plain version." UID 2' in data[0], data
    typ, data = m.fetch("1:*", "(PREVIEW (LAZY))")
    assert typ == "OK" and len(data) >= len(CASES)
    # PREVIEW (LAZY) with the command's own modifier after it.
    typ, data = m.uid("FETCH", "1", "PREVIEW", "(LAZY)", "(CHANGEDSINCE 1)")
    assert typ == "OK" and b"MODSEQ" in data[0], data


def test_preview_appended_is_cached(imap_server):
    m = connect(imap_server)
    assert m.append("INBOX", None, None, LATIN1)[0] == "OK"
    m.select("INBOX")
    assert fetch_preview(m, 1, "(PREVIEW (LAZY))") == "café crème"
    # The copy shares the blob and its preview.
    assert m.create("dst")[0] == "OK"
    assert m.copy("1", "dst")[0] == "OK"
    m.select("dst")
    assert fetch_preview(m, 1, "(PREVIEW (LAZY))") == "café crème"


def test_preview_errors(delivered):
    m = delivered
    for item in ("(PREVIEW (FAST))", "(PREVIEW ())", "(FLAGS (LAZY))",
                 "(PREVIEW (LAZY LAZIER))"):
        with pytest.raises(Exception, match="BAD"):
            m.fetch("1", item)
    # Does not set \Seen.
    typ, data = m.fetch("1:*", "(FLAGS)")
    assert all(b"\\Seen" not in d for d in data), data
