"""The operators' HTTP endpoint (/metrics, /healthz, /readyz) and SIGHUP reload, with the
real binary: the exposition format is checked line by line, counters must move under
load, /readyz must flip to 503 when shutdown begins."""

import re
import signal
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

import mqtt_raw as raw
from conftest import free_port

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*)\})? (\S+)$')


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse_exposition(text):
    """Checks the Prometheus text format and returns {(name, labels): value}."""
    samples = {}
    typed = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge"), line
            assert name not in typed, "TYPE twice for " + name
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(3) or "", m.group(5)
        assert name in typed, "sample before its TYPE: " + name
        float(value)
        if typed[name] == "counter":
            assert name.endswith("_total") or name.endswith("_seconds_total"), name
        samples[(name, labels)] = float(value)
    return samples


def http_broker(make_broker, **kw):
    hport = free_port()
    b = make_broker(http={"enabled": True, "bind": "127.0.0.1", "port": hport}, **kw)
    return b, hport


def test_metrics_exposition_and_counters_move_under_load(make_broker):
    b, hport = http_broker(make_broker)
    status, headers, text = get(hport, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = parse_exposition(text)
    for name in ("mqttd_build_info", "mqttd_connections", "mqttd_messages_received_total",
                 "process_resident_memory_bytes", "process_cpu_seconds_total"):
        assert any(k[0] == name for k in before), name
    assert before[("mqttd_messages_received_total", 'qos="1"')] == 0

    got = []
    sub = mqtt.Client(client_id="m-sub", protocol=mqtt.MQTTv311)
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.connect("127.0.0.1", b.port)
    sub.subscribe("load/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = mqtt.Client(client_id="m-pub", protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", b.port)
    pub.loop_start()
    for i in range(50):
        pub.publish("load/%d" % (i % 5), b"x" * 10, qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while len(got) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) == 50
    after = parse_exposition(get(hport, "/metrics")[2])
    assert after[("mqttd_messages_received_total", 'qos="1"')] == 50
    assert after[("mqttd_messages_sent_total", 'qos="1"')] == 50
    assert after[("mqttd_bytes_received_total", "")] >= 500
    assert sum(v for (n, _), v in after.items() if n == "mqttd_connections") == 2
    assert after[("mqttd_subscriptions", "")] == 1
    assert after[("mqttd_accepts_total", "")] >= 2
    assert after[("process_resident_memory_bytes", "")] > 1_000_000
    pub.loop_stop()
    sub.loop_stop()
    pub.disconnect()
    sub.disconnect()


def test_health_ready_and_errors(make_broker):
    b, hport = http_broker(make_broker)
    assert get(hport, "/healthz")[0] == 200
    status, _, body = get(hport, "/readyz")
    assert (status, body) == (200, "ready\n")
    assert get(hport, "/nope")[0] == 404
    assert get(hport, "/metrics", method="POST")[0] == 405
    status, headers, body = get(hport, "/readyz", method="HEAD")
    assert status == 200 and body == ""


def test_request_after_a_long_idle_wait_is_answered(make_broker):
    """A worker with nothing to do blocks in its ring for as long as it likes; a request
    arriving after more than the 5 s request timeout must still be served (its deadline
    counts from its own arrival, not from the last time the worker woke)."""
    b, hport = http_broker(make_broker)
    time.sleep(5.5)
    assert get(hport, "/healthz")[0] == 200
    time.sleep(5.5)
    assert get(hport, "/readyz")[0] == 200


def test_readyz_flips_during_shutdown_grace(make_broker):
    b, hport = http_broker(make_broker, settings={"shutdown_grace": 2})
    r, _, _ = raw.open_session(b.port, "stays", version=5)
    assert get(hport, "/readyz")[0] == 200
    b.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert get(hport, "/readyz")[0] == 503
    assert get(hport, "/healthz")[0] == 200
    r.send(raw.pingreq())  # clients are still served during the grace period
    r.expect(raw.PINGRESP)
    _, body = r.expect(raw.DISCONNECT, timeout=5)
    assert body[0] == 0x8B
    assert b.proc.wait(timeout=8) == 0


def test_sighup_applies_live_keys_and_survives_a_bad_file(make_broker):
    b = make_broker(settings={"max_qos": 2})
    _, _, body = raw.open_session(b.port, "before", version=5)
    assert 0x24 not in raw.connack_props(body)  # Maximum QoS 2: not sent
    with open(b.config_path) as f:
        good = f.read()
    with open(b.config_path, "w") as f:
        f.write(good.replace("max_qos = 2", "max_qos = 1"))
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "configuration reloaded" not in b.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    _, _, body = raw.open_session(b.port, "after", version=5)
    assert raw.connack_props(body)[0x24] == 1  # Maximum QoS now 1
    with open(b.config_path, "w") as f:
        f.write(good + "no_such_key = 1\n")
    b.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "keeping the running configuration" not in b.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "no_such_key" in b.read_log()
    _, _, body = raw.open_session(b.port, "still", version=5)
    assert raw.connack_props(body)[0x24] == 1
