"""SAVEDATE (RFC 8514) over imaplib: FETCH SAVEDATE, a new save date on
COPY and MOVE while INTERNALDATE stays, SEARCH SAVEDBEFORE / SAVEDON /
SAVEDSINCE / SAVEDATESUPPORTED next to the internal-date keys."""

import datetime
import imaplib
import re
import time

import pytest

from helpers import make_message
from test_imap import connect, imap_server  # noqa: F401

OLD_DATE = '"01-Jan-2000 10:00:00 +0000"'


def imap_day(d):
    return "%d-%s-%d" % (d.day, ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov",
                                 "Dec")[d.month - 1], d.year)


def parse_datetime(s):
    """An IMAP date-time ("26-Nov-2026 09:00:00 +0000") as a timestamp."""
    return imaplib.Internaldate2tuple(b'INTERNALDATE "' + s + b'"')


def fetch_dates(m, uid):
    typ, data = m.uid("FETCH", str(uid), "(SAVEDATE INTERNALDATE)")
    assert typ == "OK", data
    mo = re.search(rb'SAVEDATE "([^"]*)" INTERNALDATE "([^"]*)"', data[0])
    assert mo, data
    return (time.mktime(parse_datetime(mo.group(1))),
            time.mktime(parse_datetime(mo.group(2))))


def search(m, *keys):
    typ, data = m.uid("SEARCH", *keys)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


@pytest.fixture
def box(imap_server):
    m = connect(imap_server)
    assert m.create("dst")[0] == "OK"
    # Old internal dates: only the save date says "today".
    for n in range(3):
        typ, data = m.append("INBOX", None, OLD_DATE, make_message(n))
        assert typ == "OK", data
    m.select("INBOX")
    return m


def test_fetch_savedate(box):
    m = box
    before = time.time()
    saved, internal = fetch_dates(m, 1)
    assert abs(saved - before) < 120
    assert internal < saved - 86400 * 365
    typ, data = m.fetch("1:3", "(SAVEDATE)")
    assert len(data) == 3
    for line in data:
        assert re.match(rb'\d+ \(SAVEDATE "\d\d-\w{3}-\d{4} '
                        rb'\d\d:\d\d:\d\d [+-]\d{4}"\)$', line), line


def test_copy_move_new_savedate(box):
    m = box
    saved1, internal1 = fetch_dates(m, 1)
    saved2, internal2 = fetch_dates(m, 2)
    # Save dates have a resolution of a second.
    time.sleep(1.1)
    assert m.uid("COPY", "1", "dst")[0] == "OK"
    assert m.uid("MOVE", "2", "dst")[0] == "OK"
    # The source keeps its own save date.
    assert fetch_dates(m, 1) == (saved1, internal1)
    m.select("dst")
    c_saved, c_internal = fetch_dates(m, 1)
    v_saved, v_internal = fetch_dates(m, 2)
    assert c_internal == internal1 and v_internal == internal2
    assert c_saved > saved1 and v_saved > saved2


def test_search_saved_keys(box):
    m = box
    today = datetime.datetime.now(datetime.timezone.utc).date()
    # Near midnight UTC the append and the search may fall on two days.
    saved, _ = fetch_dates(m, 1)
    day = datetime.datetime.fromtimestamp(saved, datetime.timezone.utc).date()
    if day != today:
        pytest.skip("crossed midnight UTC")
    tomorrow = today + datetime.timedelta(days=1)
    assert search(m, "SAVEDSINCE", imap_day(today)) == [1, 2, 3]
    assert search(m, "SAVEDON", imap_day(today)) == [1, 2, 3]
    assert search(m, "SAVEDBEFORE", imap_day(tomorrow)) == [1, 2, 3]
    assert search(m, "SAVEDSINCE", imap_day(tomorrow)) == []
    assert search(m, "SAVEDBEFORE", imap_day(today)) == []
    assert search(m, "SAVEDATESUPPORTED") == [1, 2, 3]
    assert search(m, "SAVEDATESUPPORTED", "UID", "2:3") == [2, 3]
    # The internal date is another thing.
    assert search(m, "SINCE", imap_day(today)) == []
    assert search(m, "ON", "1-Jan-2000") == [1, 2, 3]
    assert search(m, "SAVEDON", "1-Jan-2000") == []
    assert search(m, "OR", "SAVEDON", "1-Jan-2000", "UID", "3") == [3]
    # In SORT too (the same search program).
    typ, data = m.uid("SORT", "(ARRIVAL)", "UTF-8", "SAVEDSINCE",
                      imap_day(today))
    assert typ == "OK" and data[0].split() == [b"1", b"2", b"3"], data
    with pytest.raises(imaplib.IMAP4.error, match="Invalid search date"):
        m.uid("SEARCH", "SAVEDON", "2026-01-01")


def test_search_savedsince_after_copy(box):
    """A copy made now is SAVEDSINCE today even when its source's save
    date is older; SAVEDON finds it by the copy's date."""
    m = box
    assert m.uid("COPY", "1:3", "dst")[0] == "OK"
    m.select("dst")
    saved, _ = fetch_dates(m, 1)
    day = datetime.datetime.fromtimestamp(saved, datetime.timezone.utc).date()
    assert search(m, "SAVEDSINCE", imap_day(day)) == [1, 2, 3]
    assert search(m, "SAVEDON", imap_day(day), "BEFORE", "2-Jan-2000") == \
        [1, 2, 3]
