"""Subscriptions are a list of names, not a mark on a mailbox (RFC 3501
6.3.6, RFC 9051 6.3.7): DELETE keeps them, SUBSCRIBE of a name with no
mailbox is accepted, and LSUB / LIST (SUBSCRIBED) show such a name as
\\Noselect / \\NonExistent (RFC 5258 3.4). RENAME leaves the list as it
is; the client subscribes the new name itself."""

from test_imap import connect, imap_server  # noqa: F401


def ext_list(m, *args):
    typ, data = m._simple_command("LIST", *args)
    assert typ == "OK", data
    typ, data = m._untagged_response(typ, data, "LIST")
    return sorted(d for d in data if d is not None)


def lsub(m, pattern):
    typ, data = m.lsub('""', pattern)
    assert typ == "OK", data
    return sorted(d for d in data if d is not None)


def test_delete_keeps_subscription(imap_server):
    m = connect(imap_server)
    assert m.create("keep")[0] == "OK"
    assert m.subscribe("keep")[0] == "OK"
    assert lsub(m, "keep") == [b'() "/" "keep"']
    assert ext_list(m, "(SUBSCRIBED)", '""', "keep") == \
        [b'(\\HasNoChildren \\Subscribed) "/" "keep"']

    assert m.delete("keep")[0] == "OK"
    # RFC 3501 6.3.6: the server must not drop the name on its own.
    assert lsub(m, "keep") == [b'(\\Noselect) "/" "keep"']
    assert ext_list(m, "(SUBSCRIBED)", '""', "keep") == \
        [b'(\\NonExistent \\Subscribed) "/" "keep"']
    # Plain LIST and RETURN (SUBSCRIBED) list mailboxes only.
    typ, data = m.list('""', "keep")
    assert typ == "OK" and data == [None], data
    assert ext_list(m, '""', "keep", "RETURN", "(SUBSCRIBED)") == []
    assert m.select("keep")[0] == "NO"
    m.logout()

    # It outlives the session too.
    m = connect(imap_server)
    assert lsub(m, "keep") == [b'(\\Noselect) "/" "keep"']
    m.logout()


def test_subscribe_nonexistent(imap_server):
    m = connect(imap_server)
    assert m.subscribe("ghost/child")[0] == "OK"
    assert m.subscribe("ghost/child")[0] == "OK"  # twice: one entry
    assert lsub(m, "ghost*") == [b'(\\Noselect) "/" "ghost/child"']
    # "%" stops at the parent, shown for its subscribed child.
    assert lsub(m, "ghost%") == [b'(\\Noselect) "/" "ghost"']
    assert ext_list(m, "(SUBSCRIBED)", '""', "ghost*") == \
        [b'(\\NonExistent \\Subscribed) "/" "ghost/child"']
    assert ext_list(m, "(SUBSCRIBED RECURSIVEMATCH)", '""', "ghost") == \
        [b'(\\NonExistent) "/" "ghost" ("CHILDINFO" ("SUBSCRIBED"))']
    typ, data = m.list('""', "ghost*")
    assert data == [None], data

    # UNSUBSCRIBE of a name that is not subscribed is OK, as in Dovecot.
    assert m.unsubscribe("never-subscribed")[0] == "OK"
    assert m.unsubscribe("ghost/child")[0] == "OK"
    assert lsub(m, "ghost*") == []
    assert m.unsubscribe("ghost/child")[0] == "OK"
    # Only an invalid name is refused.
    typ, data = m._simple_command("SUBSCRIBE", '"a//b"')
    assert typ == "NO", data
    m.logout()


def test_create_again_is_selectable_and_subscribed(imap_server):
    m = connect(imap_server)
    assert m.subscribe("later")[0] == "OK"
    assert m.create("later")[0] == "OK"
    assert lsub(m, "later") == [b'() "/" "later"']
    assert ext_list(m, "(SUBSCRIBED)", '""', "later") == \
        [b'(\\HasNoChildren \\Subscribed) "/" "later"']
    assert m.delete("later")[0] == "OK"
    assert ext_list(m, "(SUBSCRIBED)", '""', "later") == \
        [b'(\\NonExistent \\Subscribed) "/" "later"']
    assert m.create("later")[0] == "OK"
    assert m.select("later")[0] == "OK"
    assert lsub(m, "later") == [b'() "/" "later"']
    assert ext_list(m, '""', "later", "RETURN", "(SUBSCRIBED)") == \
        [b'(\\HasNoChildren \\Subscribed) "/" "later"']
    m.logout()


def test_rename_leaves_subscriptions(imap_server):
    m = connect(imap_server)
    assert m.create("old")[0] == "OK"
    assert m.subscribe("old")[0] == "OK"
    assert m.rename("old", "new")[0] == "OK"
    # As Dovecot: the old name stays subscribed (now without a mailbox),
    # the new one is not until the client subscribes it.
    assert lsub(m, "old") == [b'(\\Noselect) "/" "old"']
    assert lsub(m, "new") == []
    assert ext_list(m, '""', "new", "RETURN", "(SUBSCRIBED)") == \
        [b'(\\HasNoChildren) "/" "new"']
    m.logout()
