"""The io_uring engine with the real binary: connection lifecycle, keep-alive, connect
timeout, refusal at the cap, malformed input, many connections, shutdown."""

import selectors
import signal
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

import mqtt_raw as raw
from conftest import MQTTD_BIN, free_port


def paho_connect(port, version, client_id="engine-test", clean=True):
    done = threading.Event()
    result = {}
    c = mqtt.Client(client_id=client_id, protocol=version,
                    **({} if version == mqtt.MQTTv5 else {"clean_session": clean}))

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc
        result["flags"] = flags
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    return c, result


@pytest.mark.parametrize("version", [mqtt.MQTTv311, mqtt.MQTTv5, mqtt.MQTTv31])
def test_paho_connects_and_disconnects(broker, version):
    c, result = paho_connect(broker.port, version)
    assert result["rc"] == 0
    c.disconnect()
    c.loop_stop()


def test_pingreq_gets_pingresp_and_keeps_the_connection(make_broker):
    b = make_broker()
    r, _, _ = raw.open_session(b.port, "pinger", keepalive=1)
    for _ in range(6):  # 3 s: twice the 1.5 s limit
        r.send(raw.pingreq())
        r.expect(raw.PINGRESP)
        time.sleep(0.5)
    r.close()


@pytest.mark.parametrize("version", [4, 5])
def test_keep_alive_expiry_closes(broker, version):
    r, _, _ = raw.open_session(broker.port, "sleepy", version=version, keepalive=1)
    start = time.monotonic()
    if version == 5:
        _, body = r.expect(raw.DISCONNECT, timeout=4)
        assert body[0] == 0x8D  # Keep Alive timeout
    assert r.closed(timeout=4)
    elapsed = time.monotonic() - start
    assert 1.2 <= elapsed <= 3.5, elapsed  # 1.5 x keep-alive, 100 ms timer ticks


def test_connect_timeout_closes_silent_socket(make_broker):
    b = make_broker(settings={"connect_timeout": 1})
    s = socket.create_connection(("127.0.0.1", b.port))
    start = time.monotonic()
    s.settimeout(5)
    assert s.recv(10) == b""
    assert 0.8 <= time.monotonic() - start <= 3


def test_connect_timeout_closes_slowloris(make_broker):
    b = make_broker(settings={"connect_timeout": 1})
    s = socket.create_connection(("127.0.0.1", b.port))
    pkt = raw.connect("slow")
    start = time.monotonic()
    s.settimeout(5)
    try:
        for byte in pkt[:-1]:  # never finishes the CONNECT
            s.send(bytes([byte]))
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    assert time.monotonic() - start <= 3


@pytest.mark.parametrize("first", [
    raw.publish("a/b", b"x"),                   # not a CONNECT
    raw.pingreq(),
    b"\x00\x00",                                 # packet type 0
    b"\x10\xff\xff\xff\xff\x7f",                 # five-byte remaining length
    raw.packet(raw.CONNECT, 1, raw.utf8("MQTT") + b"\x04\x02\x00\x3c" + raw.utf8("x")),  # reserved flag
])
def test_malformed_first_packet_closes(broker, first):
    r = raw.Raw(broker.port)
    r.send(first)
    assert r.closed(timeout=3)


def test_unknown_protocol_level_gets_connack_1(broker):
    r = raw.Raw(broker.port)
    r.send(raw.packet(raw.CONNECT, 0, raw.utf8("MQTT") + b"\x07\x02\x00\x3c" + raw.utf8("x")))
    _, body = r.expect(raw.CONNACK)
    assert body[1] == 0x01  # unacceptable protocol version (3.1.1 form)
    assert r.closed()


def test_v5_packet_too_large_gets_disconnect_0x95(make_broker):
    b = make_broker(settings={"max_packet_size": 1024})
    r, _, body = raw.open_session(b.port, "big", version=5)
    assert raw.connack_props(body)[0x27] == 1024  # Maximum Packet Size advertised
    r.send(raw.publish("t", b"x" * 2000, version=5))
    _, body = r.expect(raw.DISCONNECT)
    assert body[0] == 0x95
    assert r.closed()


def test_refusal_at_the_cap_after_balancing(make_broker):
    # 2 workers x 3 connections: six fit (a worker at its cap hands new connections to the
    # other), the seventh is refused with the version's own code.
    b = make_broker(settings={"max_connections_per_worker": 3}, workers=2)
    held = [raw.open_session(b.port, "c%d" % i)[0] for i in range(6)]
    r = raw.Raw(b.port)
    r.send(raw.connect("over-v5", version=5))
    _, body = r.expect(raw.CONNACK)
    assert body[1] == 0x97  # Quota exceeded
    assert r.closed()
    r = raw.Raw(b.port)
    r.send(raw.connect("over-v4", version=4))
    _, body = r.expect(raw.CONNACK)
    assert body[1] == 0x03  # Server unavailable
    assert r.closed()
    held[0].send(raw.disconnect())
    assert held[0].closed()
    time.sleep(0.2)
    again, _, _ = raw.open_session(b.port, "after-one-left")  # room again
    again.close()
    for h in held[1:]:
        h.close()


def test_five_thousand_connections_over_all_workers(make_broker):
    b = make_broker(workers=4)
    n = 5000
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", b.port))
        s.sendall(raw.connect("many-%d" % i, keepalive=120))
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, bytearray())
    acked = 0
    deadline = time.monotonic() + 60
    while acked < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(16)
            assert data[:2] == b"\x20\x02" and data[3] == 0, data
            acked += 1
            sel.unregister(key.fileobj)
    assert acked == n
    # Every worker took its share: the log's final counts are not needed, the
    # SO_REUSEPORT spread is visible in /proc as one listening socket per worker.
    listeners = subprocess.run(["ss", "-Hltn", "sport = :%d" % b.port], capture_output=True, text=True).stdout
    assert len([l for l in listeners.splitlines() if l.strip()]) == 4
    for s in socks:
        s.close()


def test_shutdown_tells_v5_clients_and_exits_zero(make_broker):
    b = make_broker()
    v5, _, _ = raw.open_session(b.port, "v5-client", version=5)
    v4, _, _ = raw.open_session(b.port, "v4-client", version=4)
    start = time.monotonic()
    b.signal(signal.SIGTERM)
    _, body = v5.expect(raw.DISCONNECT)
    assert body[0] == 0x8B  # Server shutting down
    assert v5.closed()
    assert v4.closed()
    assert b.proc.wait(timeout=5) == 0
    assert time.monotonic() - start < 5


def test_port_in_use_is_one_sentence_and_exit_1():
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        r = subprocess.run([MQTTD_BIN, "--bind", "127.0.0.1", "--port", str(port)],
                           capture_output=True, text=True, timeout=10)
    finally:
        holder.close()
    assert r.returncode == 1
    assert "already in use" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bind_address_missing_is_one_sentence_and_exit_1():
    r = subprocess.run([MQTTD_BIN, "--bind", "192.0.2.77", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "not assigned to any interface" in r.stderr


def worker_connections(hport):
    """mqttd_connections by worker, from /metrics."""
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith('mqttd_connections{worker="'):
            w = int(line.split('"')[1])
            out[w] = int(float(line.split()[-1]))
    return out


def place(b, hport, client_id, want_worker, tries=200):
    """A connected session whose connection is held by `want_worker` (SO_REUSEPORT picks
    by the source port, so connect until one lands there)."""
    for i in range(tries):
        before = worker_connections(hport)
        r, _, _ = raw.open_session(b.port, "%s-%d" % (client_id, i), keepalive=120)
        after = worker_connections(hport)
        if after.get(want_worker, 0) > before.get(want_worker, 0):
            return r
        r.send(raw.disconnect())
        r.close()
        time.sleep(0.02)
    raise AssertionError("no connection landed on worker %d" % want_worker)


def metric(hport, name):
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport, timeout=5).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.split("{")[0].split(" ")[0] == name)


def test_a_worker_that_cannot_keep_up_slows_the_publisher_not_the_memory(make_broker):
    """Back-pressure between workers: a publisher on worker 0 floods a topic whose 100
    subscribers all live on worker 1, with both workers on one CPU. Worker 0 parses,
    matches and posts; worker 1 does the 100 deliveries per message. Worker 0 must hold
    the publisher's receives while worker 1's inbox is full (mqttd_receives_held_total
    moves), the broker's memory must stay bounded by its configuration, and other
    clients, on either worker, are still served meanwhile."""
    import os
    hport = free_port()
    b = make_broker(settings={"max_queued_bytes": "16KiB"},
                    http={"enabled": True, "bind": "127.0.0.1", "port": hport})
    cpu = sorted(os.sched_getaffinity(0))[0]
    for tid in os.listdir("/proc/%d/task" % b.proc.pid):
        os.sched_setaffinity(int(tid), {cpu})
    pub = place(b, hport, "bp-pub", 0)
    subs = []
    for i in range(100):
        s = place(b, hport, "bp-sub%d" % i, 1)
        s.send(raw.subscribe(1, [("bp/t", 0)]))
        s.expect(raw.SUBACK)
        subs.append(s)  # never read again: its queue fills, then QoS 0 is dropped
    chunk = raw.publish("bp/t", b"x" * 64) * 10000
    start_rss = b.rss_kib()
    peak = start_rss
    deadline = time.monotonic() + 3
    pub.sock.settimeout(0.2)
    sent = 0
    while time.monotonic() < deadline:
        try:
            sent += pub.sock.send(chunk)
        except socket.timeout:
            pass
        peak = max(peak, b.rss_kib())
    assert sent > len(chunk)
    assert metric(hport, "mqttd_receives_held_total") > 0
    grew_mib = (peak - start_rss) / 1024
    assert grew_mib < 256, "broker RSS grew by %.0f MiB while one worker could not keep up" % grew_mib
    probe, _, _ = raw.open_session(b.port, "bp-probe")  # still serving
    probe.send(raw.pingreq())
    probe.expect(raw.PINGRESP, timeout=10)
    for s in subs + [pub, probe]:
        s.close()
