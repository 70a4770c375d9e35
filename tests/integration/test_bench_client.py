"""The load generator's own protocol behaviour (make bench trusts its
figures only if the client follows the protocol)."""
import os
import subprocess

import pytest

from conftest import BUILD

BENCH = os.path.join(BUILD, "bench", "quire-bench")


def test_lmtp_client_resets_after_refused_recipients(server):
    """Every recipient refused leaves the MAIL in effect (RFC 5321
    4.1.1.4): the next transaction must start with RSET, or the server
    answers its MAIL with 503 and the connection fails."""
    if not os.path.exists(BENCH):
        pytest.skip("quire-bench is not built here")
    server.add_user("user0", "secret")
    server.start()
    # messages alternate between user0 (exists) and user1 (does not)
    res = subprocess.run(
        [BENCH, "lmtp", "--port", str(server.ports["lmtp"]),
         "--conns", "1", "--count", "6", "--size", "2000",
         "--users", "2", "--user-first", "0"],
        capture_output=True, text=True, timeout=60)
    assert "Sender already given" not in res.stderr, res.stderr
    assert "lmtp connection" not in res.stderr, res.stderr
    assert " ok=3 " in res.stdout, res.stdout
    assert " errors=3 " in res.stdout, res.stdout
