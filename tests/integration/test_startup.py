"""Start-up behaviour of the real binary: flags, configuration errors, --version."""

import os
import tempfile

from conftest import SOURCE_ROOT, run_mqttd


def write_config(text):
    fd, path = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def assert_config_refused(text, *needles):
    path = write_config(text)
    try:
        r = run_mqttd("--config", path)
    finally:
        os.unlink(path)
    assert r.returncode == 2, r
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "want one line, got: %r" % r.stderr
    assert path in lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def test_version_names_build_allocator_and_io_uring():
    r = run_mqttd("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("mqttd ")
    assert "build" in r.stdout
    assert "allocator:" in r.stdout
    assert "io_uring:" in r.stdout


def test_help():
    r = run_mqttd("--help")
    assert r.returncode == 0
    assert "--config" in r.stdout and "--port" in r.stdout


def test_unknown_key_is_refused():
    assert_config_refused("workers = 1\nmax_conections_per_worker = 5\n", ":2:", "unknown key 'max_conections_per_worker'")


def test_string_where_number_belongs_is_refused():
    assert_config_refused("max_inflight = \"lots\"\n", ":1:", "key 'max_inflight'", "expected an integer, got a string")


def test_port_out_of_range_is_refused():
    assert_config_refused("[[listener]]\nbind = \"127.0.0.1\"\nport = 70000\n", ":3:", "70000 is out of range 1..65535")


def test_syntax_error_is_refused():
    assert_config_refused("workers = = 2\n", ":1:", "TOML syntax error")


def test_missing_config_file():
    r = run_mqttd("--config", "/nonexistent/dir/mqttd.toml")
    assert r.returncode == 2
    assert "/nonexistent/dir/mqttd.toml" in r.stderr


def test_bad_flags():
    r = run_mqttd("--port", "70000")
    assert r.returncode == 2
    assert r.stderr.strip() == "mqttd: --port 70000: 70000 is out of range 1..65535"
    r = run_mqttd("--workers", "x")
    assert r.returncode == 2 and "--workers" in r.stderr
    r = run_mqttd("--frobnicate", "1")
    assert r.returncode == 2 and "unknown option --frobnicate" in r.stderr
    r = run_mqttd("--port")
    assert r.returncode == 2 and "needs a value" in r.stderr


def test_example_config_checks_ok():
    r = run_mqttd("--config", os.path.join(SOURCE_ROOT, "mqttd.example.toml"), "--check-config")
    assert r.returncode == 0, r.stderr
