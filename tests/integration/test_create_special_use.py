"""CREATE-SPECIAL-USE (RFC 6154 3): CREATE name (USE (\\Drafts)) makes a
mailbox with that special use, which LIST then shows. The store keeps one
special use per mailbox: naming two different ones is NO [USEATTR], as
is an attribute we do not know; a USE value that is not a "\\" atom is
BAD. /private/specialuse (RFC 6154 4) reads and sets the same."""

import imaplib

from test_imap import connect, imap_server  # noqa: F401


for _c in ("GETMETADATA", "SETMETADATA"):
    imaplib.Commands.setdefault(_c, ("AUTH", "SELECTED"))


def command(m, name, *args):
    try:
        return m._simple_command(name, *args)
    except imaplib.IMAP4.error as e:
        return "BAD", [str(e).encode()]


def ext_list(m, *args):
    typ, data = m._simple_command("LIST", *args)
    assert typ == "OK", data
    typ, data = m._untagged_response(typ, data, "LIST")
    return sorted(d for d in data if d is not None)


def test_capability(imap_server):
    m = connect(imap_server)
    assert "CREATE-SPECIAL-USE" in m.capabilities
    m.logout()


def test_create_with_use(imap_server):
    m = connect(imap_server)
    for name, use in (("MyDrafts", "\\Drafts"), ("Stuff/Old", "\\Archive"),
                      ("Bin", "\\trash"), ("Everything", "\\All"),
                      ("Stars", "\\Flagged"), ("Outbox", "\\Sent"),
                      ("Spam", "\\Junk")):
        typ, data = command(m, "CREATE", name, "(USE (%s))" % use)
        assert typ == "OK", (name, data)
    assert ext_list(m, '""', "MyDrafts") == \
        [b'(\\HasNoChildren \\Drafts) "/" "MyDrafts"']
    # Only the mailbox named gets the use, not a parent made on the way.
    assert ext_list(m, '""', "Stuff*") == \
        [b'(\\HasChildren) "/" "Stuff"',
         b'(\\HasNoChildren \\Archive) "/" "Stuff/Old"']
    assert ext_list(m, '""', "Bin") == \
        [b'(\\HasNoChildren \\Trash) "/" "Bin"']
    # LIST (SPECIAL-USE) selects them.
    got = ext_list(m, "(SPECIAL-USE)", '""', "*")
    names = sorted(g.rsplit(b" ", 1)[1] for g in got)
    assert b'"MyDrafts"' in names and b'"Stuff/Old"' in names
    assert b'"Stuff"' not in names
    m.logout()


def test_create_repeated_use_and_empty(imap_server):
    m = connect(imap_server)
    typ, data = command(m, "CREATE", "D2", "(USE (\\Drafts \\Drafts))")
    assert typ == "OK", data
    typ, data = command(m, "CREATE", "Plain", "(USE ())")
    assert typ == "OK", data
    assert ext_list(m, '""', "Plain") == [b'(\\HasNoChildren) "/" "Plain"']
    m.logout()


def test_create_use_refused(imap_server):
    m = connect(imap_server)
    typ, data = command(m, "CREATE", "Two", "(USE (\\Drafts \\Sent))")
    assert typ == "NO" and b"[USEATTR]" in data[0], data
    typ, data = command(m, "CREATE", "Odd", "(USE (\\Important))")
    assert typ == "NO" and b"[USEATTR]" in data[0], data
    # Nothing was created.
    typ, data = m.list('""', "Two")
    assert data == [None], data
    typ, data = m.list('""', "Odd")
    assert data == [None], data
    m.logout()


def test_create_bad_params(imap_server):
    m = connect(imap_server)
    for params in ("(USE Drafts)", "(USE (Drafts))", "(FOO (\\Drafts))",
                   "()", "(USE)", "(USE (\\Drafts) USE (\\Sent))",
                   "(USE (\\))"):
        typ, data = command(m, "CREATE", "X", params)
        assert typ == "BAD", (params, data)
    typ, data = m.list('""', "X")
    assert data == [None], data
    m.logout()


def test_create_existing_with_use(imap_server):
    m = connect(imap_server)
    assert m.create("Have")[0] == "OK"
    typ, data = command(m, "CREATE", "Have", "(USE (\\Drafts))")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
    assert ext_list(m, '""', "Have") == [b'(\\HasNoChildren) "/" "Have"']
    m.logout()


def test_specialuse_metadata(imap_server):
    """RFC 6154 4: /private/specialuse mirrors the attribute, and setting
    it is checked like CREATE's USE."""
    m = connect(imap_server)
    assert command(m, "CREATE", "MyDrafts", "(USE (\\Drafts))")[0] == "OK"
    assert m.create("Saved")[0] == "OK"
    typ, data = command(m, "GETMETADATA", "MyDrafts", "/private/specialuse")
    assert typ == "OK", data
    typ, data = m._untagged_response(typ, data, "METADATA")
    assert data == [b'"MyDrafts" ("/private/specialuse" "\\\\Drafts")'], data
    typ, data = command(m, "GETMETADATA", "Saved", "/private/specialuse")
    typ, data = m._untagged_response(typ, data, "METADATA")
    assert data == [b'"Saved" ("/private/specialuse" NIL)'], data

    typ, data = command(m, "SETMETADATA", "Saved",
                        '(/private/specialuse "\\\\Sent")')
    assert typ == "OK", data
    assert ext_list(m, '""', "Saved") == \
        [b'(\\HasNoChildren \\Sent) "/" "Saved"']
    typ, data = command(m, "SETMETADATA", "MyDrafts",
                        "(/private/specialuse NIL)")
    assert typ == "OK", data
    assert ext_list(m, '""', "MyDrafts") == \
        [b'(\\HasNoChildren) "/" "MyDrafts"']
    for bad in ('"\\\\Bogus"', '"\\\\Drafts \\\\Sent"', '"Drafts"',
                '"\\\\Drafts "'):
        typ, data = command(m, "SETMETADATA", "Saved",
                            "(/private/specialuse %s)" % bad)
        assert typ == "NO" and b"[USEATTR]" in data[0], (bad, data)
    assert ext_list(m, '""', "Saved") == \
        [b'(\\HasNoChildren \\Sent) "/" "Saved"']
    # Other entries in the same command are set with it.
    typ, data = command(m, "SETMETADATA", "Saved",
                        '(/private/specialuse "\\\\Trash" '
                        '/private/comment "bin")')
    assert typ == "OK", data
    typ, data = command(m, "GETMETADATA", "(DEPTH 1)", "Saved", "/private")
    typ, data = m._untagged_response(typ, data, "METADATA")
    assert data == [b'"Saved" ("/private/comment" "bin" '
                    b'"/private/specialuse" "\\\\Trash")'], data
    m.logout()
