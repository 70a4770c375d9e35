#!/usr/bin/env python3
"""UID SEARCH TEXT over a large mailbox, from the full-text index and by
reading every message, on one quired started on free 127.0.0.1 ports in a
temporary directory (ended by its PID on exit).

  QUIRE_BUILD=build bench/bench-fts.py [MESSAGES]   (default 10000)

Fills INBOX by APPEND (a few KB of generated text per message; one of
them holds a rare word), then times each search a few times with the
index, again after dropping every index row (SEARCH then reads the
files, as before the index existed), and `quire reindex` in between."""

import glob
import imaplib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from conftest import Server  # noqa: E402

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu meeting report budget "
         "schedule project review invoice travel lunch Stra\u00dfe caf\u00e9"
         ).split()
REPS = 5
APPENDERS = 8


def make_message(i, rng, rare):
    words = [rng.choice(WORDS) for _ in range(rng.randint(300, 700))]
    if rare:
        words[len(words) // 2] = "pomegranate"
    lines = [" ".join(words[k:k + 12]) for k in range(0, len(words), 12)]
    return ("From: Sender %d <s%d@example.org>\r\n"
            "To: alice@example.org\r\n"
            "Subject: %s %s %d\r\n"
            "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n%s\r\n" % (i % 50, i % 50, rng.choice(WORDS),
                            rng.choice(WORDS), i,
                            "\r\n".join(lines))).encode()


def append_all(srv, msgs):
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=600)
    m.login("alice", "bench-pw")
    for msg in msgs:
        typ, data = m.append("INBOX", None, None, msg)
        assert typ == "OK", data
    m.logout()


def timed(m, *args):
    times = []
    for _ in range(REPS):
        t = time.monotonic()
        typ, data = m.uid("SEARCH", None, *args)
        times.append(time.monotonic() - t)
        assert typ == "OK", data
    return statistics.median(times), len(data[0].split())


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        # shared locking: the index rows are dropped beside the daemon
        srv = Server(tmp, extra_conf="[server]\nstore_locking = shared\n")
        srv.add_user("alice", "bench-pw")
        srv.start(wait=("imap",))
        try:
            msgs = [make_message(i, rng, i == count // 2)
                    for i in range(count)]
            t = time.monotonic()
            # Several connections, so their commits share fsyncs.
            threads = [threading.Thread(target=append_all,
                                        args=(srv, msgs[k::APPENDERS]))
                       for k in range(APPENDERS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            fill = time.monotonic() - t
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=600)
            m.login("alice", "bench-pw")
            m.select("INBOX")
            db_path = glob.glob(os.path.join(srv.data, "users", "*",
                                             "alice", "store.db"))[0]
            size = sum(os.path.getsize(p) for p in glob.glob(db_path + "*"))
            print("%d messages appended in %.1f s; store.db %.1f MB"
                  % (count, fill, size / 1e6))
            searches = [("TEXT", "pomegranate"), ("TEXT", "november"),
                        ("BODY", "ab"), ("SUBJECT", "report")]
            indexed = {s: timed(m, *s) for s in searches}
            db = sqlite3.connect(db_path, timeout=30)
            db.execute("DELETE FROM fts")
            db.execute("UPDATE blobs SET fts = NULL")
            db.commit()
            db.close()
            scanned = {s: timed(m, *s) for s in searches}
            t = time.monotonic()
            srv.cli("reindex", "alice")
            reindex = time.monotonic() - t
            again = {s: timed(m, *s) for s in searches}
            print("%-22s %10s %10s %8s" % ("UID SEARCH", "scan ms",
                                          "index ms", "matches"))
            for s in searches:
                assert scanned[s][1] == indexed[s][1] == again[s][1]
                print("%-22s %10.1f %10.1f %8d"
                      % (" ".join(s), scanned[s][0] * 1000,
                         again[s][0] * 1000, indexed[s][1]))
            print("quire reindex: %.1f s" % reindex)
            m.logout()
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
