"""Shared helpers for the integration tests: start the real mqttd binary on a free
port with a generated configuration, wait until it accepts, stop it and check that it
exited cleanly. Clients are independent implementations (paho-mqtt, mosquitto-clients)
or raw sockets for byte-exact protocol checks."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

MQTTD_BIN = os.environ.get("MQTTD_BIN", "build/src/app/mqttd")
SOURCE_ROOT = os.environ.get("MQTTD_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A TCP port nothing uses right now, chosen below the kernel's ephemeral range when
    there is room there: a port from that range can be taken as the source port of some
    other test's outgoing connection between this choice and the broker's bind."""
    import random
    lo, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randint(10000, lo - 1) if lo > 11000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def wait_port(port, host="127.0.0.1", timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"%s"' % v


class Broker:
    """One mqttd process. `settings` are top-level config keys; `listeners` a list of
    (bind, port); `http` a dict for [http] (disabled unless given)."""

    def __init__(self, settings=None, listeners=None, http=None, args=None, workers=2,
                 wrapper=None):
        self.tmp = tempfile.mkdtemp(prefix="mqttd-test-")
        self.port = free_port()
        self.listeners = listeners or [("127.0.0.1", self.port)]
        # MQTTD_TEST_LOG_LEVEL=debug makes every test broker log its connections.
        self.settings = {"workers": workers, "sys_interval": 0,
                         "log_level": os.environ.get("MQTTD_TEST_LOG_LEVEL", "info")}
        self.settings.update(settings or {})
        self.http = http
        self.args = args or []
        self.wrapper = wrapper or []  # a command that execs mqttd (e.g. under seccomp)
        self.config_path = os.path.join(self.tmp, "mqttd.toml")
        self.log_path = os.path.join(self.tmp, "mqttd.log")
        self.proc = None
        self.write_config()

    def write_config(self):
        lines = ["%s = %s" % (k, toml_value(v)) for k, v in self.settings.items()]
        for bind, port in self.listeners:
            lines += ["[[listener]]", 'bind = "%s"' % bind, "port = %d" % port]
        lines += ["[http]"]
        if self.http:
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in self.http.items()]
        else:
            lines += ["enabled = false"]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [MQTTD_BIN, "--config", self.config_path] + self.args,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            # Every listener, and the HTTP endpoint when enabled: each worker opens its
            # own sockets, so the first port accepting does not mean the others do.
            ports = list(self.listeners)
            if self.http and self.http.get("enabled", True) and "port" in self.http:
                ports.append((self.http.get("bind", "127.0.0.1"), self.http["port"]))
            for host, port in ports:
                if not wait_port(port, host if host not in ("0.0.0.0", "::") else "127.0.0.1"):
                    self.proc.kill()
                    raise RuntimeError("mqttd did not start listening on %s:%d:\n%s"
                                       % (host, port, self.read_log()))
        return self

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM and wait; returns the exit status (the broker must exit within 5 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
            if getattr(self, "log", None):
                self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def make_broker(request):
    """Factory fixture: make_broker(settings=..., ...) -> started Broker. Every broker is
    stopped at the end of the test, which must find it exiting with status 0; its log is
    printed when the test fails."""
    brokers = []

    def make(start=True, **kwargs):
        b = Broker(**kwargs)
        brokers.append(b)
        return b.start() if start else b

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for b in brokers:
        status = None
        try:
            status = b.stop()
        except Exception:  # noqa: BLE001 - reported below through the assertion
            status = "hung"
        if failed or status not in (0, None):
            print("---- mqttd log (%s) ----\n%s" % (b.config_path, b.read_log()))
        log_text = b.read_log()
        b.cleanup()
        if not failed and b.proc is not None and getattr(b, "expect_clean_exit", True):
            assert status in (0, None), "mqttd exited with %r\n%s" % (status, log_text)
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
                assert marker not in log_text, "sanitizer report in the mqttd log:\n" + log_text


@pytest.fixture
def broker(make_broker):
    """A started broker with two workers on a free port."""
    return make_broker()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def run_mqttd(*args, timeout=10):
    """Runs mqttd to completion (for start-up checks); returns CompletedProcess."""
    return subprocess.run([MQTTD_BIN] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def start(request):
    """start(settings=None, workers=2, mqttd_only=False) -> a broker for session tests:
    mqttd through make_broker, or the broker named by MQTTD_TEST_AGAINST (see
    mqtt_raw._session_broker)."""
    import mqtt_raw
    return mqtt_raw._session_broker(request)
