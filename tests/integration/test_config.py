"""quired refuses a bad configuration with a message naming file, line and
key, and exits with EX_CONFIG (78)."""

import subprocess

import pytest

from conftest import QUIRED


@pytest.mark.parametrize("text,expect", [
    ("[server]\nnonsense = 1\n", ":2: unknown key 'nonsense'"),
    ("[pop3]\n\nlisten = 127.0.0.1:70000\n", ":3: [pop3] listen"),
    ("[lmtp]\nmax_message_size = lots\n", ":2: [lmtp] max_message_size"),
])
def test_bad_config_names_file_line_key(tmp_path, text, expect):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    r = subprocess.run([QUIRED, "-c", str(conf), "--foreground"],
                       capture_output=True, timeout=30)
    assert r.returncode == 78
    err = r.stderr.decode()
    assert str(conf) in err
    assert expect in err


def test_bad_override(tmp_path):
    r = subprocess.run([QUIRED, "-o", "pop3.colour=blue", "--foreground"],
                       capture_output=True, timeout=30)
    assert r.returncode == 78
    assert b"unknown key 'colour'" in r.stderr
