"""The load generator's own protocol behaviour (make bench trusts its
figures only if the client follows the protocol)."""
import os
import subprocess

import pytest

from conftest import BUILD

BENCH = os.path.join(BUILD, "bench", "quire-bench")


def run_bench(server, users, workload, port, *args, timeout=60):
    """quire-bench against a started server with these users (password
    "bench"), or a skip where it is not built."""
    if not os.path.exists(BENCH):
        pytest.skip("quire-bench is not built here")
    for u in users:
        server.add_user(u, "bench")
    server.start()
    return subprocess.run(
        [BENCH, workload, "--port", str(server.ports[port])] + list(args),
        capture_output=True, text=True, timeout=timeout)


def test_lmtp_client_resets_after_refused_recipients(server):
    """Every recipient refused leaves the MAIL in effect (RFC 5321
    4.1.1.4): the next transaction must start with RSET, or the server
    answers its MAIL with 503 and the connection fails."""
    # messages alternate between user0 (exists) and user1 (does not)
    res = run_bench(server, ["user0"], "lmtp", "lmtp", "--conns", "1",
                    "--count", "6", "--size", "2000", "--users", "2",
                    "--user-first", "0")
    assert "Sender already given" not in res.stderr, res.stderr
    assert "lmtp connection" not in res.stderr, res.stderr
    assert " ok=3 " in res.stdout, res.stdout
    assert " errors=3 " in res.stdout, res.stdout


def _run_bench_module():
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "..", "bench",
                        "run-bench")
    loader = importlib.machinery.SourceFileLoader("run_bench", path)
    spec = importlib.util.spec_from_loader("run_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_table_per_pair_ratio():
    """The "per pair" column is the median of each pair's own ratio,
    pairing the two servers by round and turn (not by position), and a
    pair one server lacks is left out."""
    rb = _run_bench_module()
    key = "cmds_per_s"
    results = {
        ("imap-mixed", "dovecot"): [{key: "100", "round": (1, 0)},
                                    {key: "200", "round": (1, 1)},
                                    {key: "150", "round": (2, 0)},
                                    {key: "999", "round": (2, 1)}],
        # listed out of order: pairing must go by round and turn
        ("imap-mixed", "quire"): [{key: "300", "round": (2, 0)},
                                  {key: "400", "round": (1, 0)},
                                  {key: "500", "round": (1, 1)}],
    }
    # rounds: 4.00, 2.50, 2.00 -> 2.50; medians: 400 / 175 -> 2.29
    assert rb.pair_ratio(results, "imap-mixed", key) == "2.50"
    assert rb.pair_ratio(results, "imap-mixed", "nothing") == "-"
    rb.ONLY = ["imap-mixed"]
    table, _ = rb.build_table(results)
    row = [l for l in table.splitlines() if "commands/s" in l][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:6] == ["175", "400", "2.29", "2.50"], cells


def test_mixed_waits_for_logins_and_counts_failed_ones(server):
    """The mix starts its loops once every session has logged in or
    failed to: a session whose LOGIN is refused must not hold the others
    back until the deadline, and the loops then run in full."""
    # user2 does not exist: its LOGIN fails (after the failure delay)
    res = run_bench(server, ["user0", "user1"], "imap-mixed", "imap",
                    "--conns", "3", "--count", "18", "--users", "3",
                    "--user-first", "0", "--timeout", "60", timeout=90)
    out = res.stdout
    assert " timeout=0" in out, out
    assert " ok=36 " in out, out
    assert " errors=1 " in out, out
    assert " login_secs=" in out, out


def test_pop3_waits_for_logins_and_counts_failed_ones(server):
    """The POP3 download times logged-in sessions: every session logs in
    and STATs, and the RETR loops start together once none is still
    logging in. A session whose PASS is refused must not hold the others
    back until the deadline, and the others then drain their maildrops."""
    # 6 messages, alternating between user0 and user1
    res = run_bench(server, ["user0", "user1"], "lmtp", "lmtp",
                    "--conns", "1", "--count", "6", "--size", "2000",
                    "--users", "2", "--user-first", "0")
    assert " ok=6 " in res.stdout, res.stdout
    # user2 does not exist: its PASS fails
    res = subprocess.run(
        [BENCH, "pop3", "--port", str(server.ports["pop3"]),
         "--users", "3", "--user-first", "0", "--password", "bench",
         "--timeout", "60"],
        capture_output=True, text=True, timeout=90)
    out = res.stdout
    assert " timeout=0" in out, out
    assert " conns=3 " in out, out
    assert " ok=6 " in out, out
    assert " errors=1 " in out, out
    assert " login_secs=" in out, out
