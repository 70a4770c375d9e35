"""SORT, UID SORT, ESORT and THREAD over real sockets with Python's imaplib:
every sort key with REVERSE, search keys under SORT, THREAD=REFERENCES with
replies, a missing parent and subject grouping, THREAD=ORDEREDSUBJECT, a
long reply chain, and the errors."""

import imaplib

import pytest

from test_imap_search import imap_server, imap_answers  # noqa: F401

PW = "search-pw-1"


def msg(frm, subject, date, msgid, to=None, cc=None, refs=None, irt=None,
        body=b"body\r\n"):
    h = b"From: " + frm + b"\r\n"
    if to:
        h += b"To: " + to + b"\r\n"
    if cc:
        h += b"Cc: " + cc + b"\r\n"
    h += b"Subject: " + subject + b"\r\n"
    h += b"Date: " + date + b"\r\n"
    h += b"Message-ID: " + msgid + b"\r\n"
    if refs:
        h += b"References: " + refs + b"\r\n"
    if irt:
        h += b"In-Reply-To: " + irt + b"\r\n"
    return h + b"\r\n" + body


# (internal date, message)
MESSAGES = [
    ("05-Feb-2026 12:00:00 +0000",
     msg(b"Carol <carol@x.org>", b"hello", b"Sun, 1 Feb 2026 10:00:00 +0000",
         b"<1@t>", to=b"dave@x.org", body=b"x" * 300 + b"\r\n")),
    ("01-Feb-2026 12:00:00 +0000",
     msg(b"alice@x.org", b"Re: hello", b"Mon, 2 Feb 2026 10:00:00 +0000",
         b"<2@t>", to=b"Zoe <bob@x.org>", irt=b"<1@t>")),
    ("03-Feb-2026 12:00:00 +0000",
     msg(b"bob@x.org", b"other topic",
         b"Sun, 1 Feb 2026 11:00:00 +0200", b"<3@t>", cc=b"zed@x.org",
         body=b"y" * 100 + b"\r\n")),
    ("02-Feb-2026 12:00:00 +0000",
     msg(b"Aaron <dan@x.org>", b"=?UTF-8?Q?Re:_[list]_hello?=",
         b"Tue, 3 Feb 2026 10:00:00 +0000", b"<4@t>",
         refs=b"<1@t> <2@t>", body=b"z" * 200 + b"\r\n")),
    ("04-Feb-2026 12:00:00 +0000",
     msg(b"eve@x.org", b"Re: missing", b"Wed, 4 Feb 2026 10:00:00 +0000",
         b"<5@t>", refs=b"<gone@t>")),
    ("06-Feb-2026 12:00:00 +0000",
     msg(b"frank@x.org", b"Fwd: Other Topic (fwd)",
         b"Thu, 5 Feb 2026 10:00:00 +0000", b"<6@t>")),
]


def connect(server):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    m.login("alice", PW)
    return m


@pytest.fixture
def mailbox(imap_server):  # noqa: F811
    m = connect(imap_server)
    for date, data in MESSAGES:
        typ, resp = m.append("INBOX", "()", '"%s"' % date, data)
        assert typ == "OK", resp
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"6"]
    yield m
    try:
        m.logout()
    except Exception:
        pass


def sort(m, crit, *keys, charset="UTF-8"):
    typ, data = m.sort(crit, charset, *keys)
    assert typ == "OK", data
    return data[0].decode()


def size_order(reverse=False):
    sizes = [(len(d), i + 1) for i, (_, d) in enumerate(MESSAGES)]
    order = sorted(sizes, key=lambda s: ((-s[0] if reverse else s[0]),
                                         s[1]))
    return " ".join(str(s[1]) for s in order)


@pytest.mark.parametrize("crit,want", [
    ("(SUBJECT)", "1 2 4 5 3 6"),
    ("(REVERSE SUBJECT)", "3 6 5 1 2 4"),
    ("(DATE)", "3 1 2 4 5 6"),
    ("(REVERSE DATE)", "6 5 4 2 1 3"),
    ("(ARRIVAL)", "2 4 3 5 1 6"),
    ("(REVERSE ARRIVAL)", "6 1 5 3 4 2"),
    ("(FROM)", "2 3 1 4 5 6"),
    ("(DISPLAYFROM)", "4 2 3 1 5 6"),
    ("(TO)", "3 4 5 6 2 1"),
    ("(DISPLAYTO)", "3 4 5 6 1 2"),
    ("(CC)", "1 2 4 5 6 3"),
    ("(REVERSE CC)", "3 1 2 4 5 6"),
    ("(SUBJECT REVERSE DATE)", "4 2 1 5 6 3"),
    ("(SIZE)", size_order()),
    ("(REVERSE SIZE)", size_order(True)),
    ("(reverse subject date)", "3 6 5 1 2 4"),
])
def test_sort_keys(mailbox, crit, want):
    assert sort(mailbox, crit, "ALL") == want


def test_sort_with_search_keys(mailbox):
    assert sort(mailbox, "(DATE)", "FROM", "x.org", "NOT", "1") == \
        "3 2 4 5 6"
    assert sort(mailbox, "(SUBJECT)", "SUBJECT", "nothing-like-it") == ""
    assert sort(mailbox, "(DATE)", "ALL", charset="US-ASCII") == \
        "3 1 2 4 5 6"


def test_uid_sort(mailbox):
    typ, data = mailbox.uid("SORT", "(DATE)", "UTF-8", "UID", "2:5")
    assert typ == "OK", data
    assert data[0] == b"3 2 4 5"


def test_esort(mailbox):
    typ, data = mailbox._simple_command(
        "SORT", "RETURN", "(MIN MAX COUNT)", "(DATE)", "UTF-8", "ALL")
    assert typ == "OK", data
    typ, data = mailbox._untagged_response(typ, data, "ESEARCH")
    line = data[0].decode()
    assert line.endswith("MIN 3 MAX 6 COUNT 6"), line
    typ, data = mailbox._simple_command(
        "SORT", "RETURN", "(ALL)", "(REVERSE DATE)", "UTF-8", "ALL")
    typ, data = mailbox._untagged_response(typ, data, "ESEARCH")
    assert data[0].decode().endswith("ALL 6:4,2,1,3") or \
        data[0].decode().endswith("ALL 6,5,4,2,1,3"), data


def test_thread(mailbox):
    typ, data = mailbox.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK", data
    assert data[0] == b"(3 6)(1 2 4)(5)"
    typ, data = mailbox.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK", data
    assert data[0] == b"(3 6)(1 (2)(4))(5)"
    typ, data = mailbox.uid("THREAD", "REFERENCES", "UTF-8", "NOT", "2")
    assert typ == "OK", data
    # without 2, 4 still names 1 as its first reference
    assert data[0] == b"(3 6)(1 4)(5)"
    typ, data = mailbox.thread("REFERENCES", "UTF-8", "SUBJECT", "nope")
    assert typ == "OK" and data[0] in (None, b"")


def test_thread_long_chain(imap_server):  # noqa: F811
    m = connect(imap_server)
    m.create("chain")
    n = 150
    for i in range(1, n + 1):
        refs = b"<c%d@t>" % (i - 1) if i > 1 else None
        data = msg(b"a@x.org", b"Re: chain" if i > 1 else b"chain",
                   b"Sun, 1 Feb 2026 10:%02d:%02d +0000" % (i // 60, i % 60),
                   b"<c%d@t>" % i, irt=refs)
        typ, resp = m.append("chain", "()", None, data)
        assert typ == "OK", resp
    m.select("chain")
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK", data
    assert data[0] == ("(" + " ".join(str(i) for i in range(1, n + 1)) +
                       ")").encode()
    m.logout()


def test_sort_collation_and_groups(imap_server):  # noqa: F811
    """i;unicode-casemap orders by titlecase (RFC 5051): letters before
    "[" and "_"; a group's name is its first address (RFC 3501 7.4.2)."""
    m = connect(imap_server)
    m.create("coll")
    cases = [  # (subject, to)
        (b"_", b"z: aa@aa.org, bb@bb.org;"),
        (b"[xyz]", b"empty:;"),
        (b"b", b"=?iso-8859-1?q?foo_aar?= <e@f.g>"),
        (b"A", b"b@c.d"),
        (b"=?iso-8859-1?q?_?=", b"a: xx@xx.org;"),
    ]
    for i, (subj, to) in enumerate(cases):
        data = msg(b"a@x.org", subj, b"Sun, 1 Feb 2026 10:00:00 +0000",
                   b"<g%d@t>" % i, to=to)
        typ, resp = m.append("coll", "()", None, data)
        assert typ == "OK", resp
    m.select("coll")
    # "" (5), "A" (4), "B" (3), "[XYZ]" (2), "_" (1)
    assert sort(m, "(SUBJECT)", "ALL") == "5 4 3 2 1"
    # "a" (5), "b@c.d" (4), "empty" (2), "foo aar" (3), "z" (1)
    assert sort(m, "(DISPLAYTO)", "ALL") == "5 4 2 3 1"
    # mailboxes: "z", "empty", "e", "b", "a"
    assert sort(m, "(TO)", "ALL") == "5 4 3 2 1"
    m.logout()


def test_errors_and_capability(mailbox):
    typ, data = mailbox.capability()
    caps = data[0].decode().split()
    for c in ("SORT", "SORT=DISPLAY", "ESORT", "THREAD=REFERENCES",
              "THREAD=ORDEREDSUBJECT"):
        assert c in caps
    typ, data = mailbox.sort("(DATE)", "KOI8-R", "ALL")
    assert typ == "NO" and data[0].startswith(b"[BADCHARSET")
    for args in (("(FOO)", "UTF-8", "ALL"), ("()", "UTF-8", "ALL"),
                 ("(REVERSE)", "UTF-8", "ALL"), ("(DATE)", "UTF-8")):
        with pytest.raises(imaplib.IMAP4.error):
            mailbox.sort(*args)
    with pytest.raises(imaplib.IMAP4.error):
        mailbox.thread("JWZ", "UTF-8", "ALL")
    # the session goes on
    assert sort(mailbox, "(DATE)", "ALL") == "3 1 2 4 5 6"
