"""Session layer, retained messages and wills: set, replace, clear, delivery on subscribe
with the RETAIN flag, wildcards, message expiry of retained messages; the will on an
abnormal close, on keep-alive expiry, not on a normal DISCONNECT, on DISCONNECT 0x04,
the will delay interval, will retain and will QoS.

Statement ids: "3.1.1" = MQTT 3.1.1, "5.0" = MQTT 5.0 (OASIS)."""

import subprocess
import time

import pytest

import mqtt_raw as raw
from mqtt_raw import Client


@pytest.mark.parametrize("version", [4, 5])
def test_retained_delivered_on_subscribe_with_retain_flag(start, version):
    """3.1.1 MQTT-3.3.1-5 / 5.0 MQTT-3.3.1-5 (stored), 3.1.1 MQTT-3.3.1-8 / 5.0 3.3.1.3 and
    MQTT-3.3.1-9 (sent to a new subscription with RETAIN 1), at min(published, granted)
    QoS (3.1.1 MQTT-3.8.4-6 / 5.0 MQTT-3.8.4-8)."""
    b = start()
    topic = b.ns + "ret/t"
    Client(b, b.ns + "pub", version).pub(topic, b"kept", qos=2, retain=True)
    for q in (0, 1, 2):
        c = Client(b, b.ns + "sub%d" % q, version)
        assert c.sub(topic, q) == [q]
        m = c.recv()
        assert (m["topic"], m["payload"], m["retain"], m["qos"]) == (topic, b"kept", True, q)


def test_retained_replaced(start):
    """3.1.1 / 5.0 MQTT-3.3.1-5: a new retained message replaces the one stored for the
    topic; a new subscriber gets only the latest."""
    b = start()
    topic = b.ns + "rep/t"
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"one", qos=1, retain=True)
    pub.pub(topic, b"two", qos=1, retain=True)
    c = Client(b, b.ns + "c", 5)
    c.sub(topic, 1)
    got = [c.recv()] + c.quiet(0.3)
    assert [(m["payload"], m["retain"]) for m in got] == [(b"two", True)]


@pytest.mark.parametrize("version", [4, 5])
def test_retained_cleared_by_empty_payload(start, version):
    """3.1.1 MQTT-3.3.1-10, -11 / 5.0 MQTT-3.3.1-6, -7: a retained PUBLISH with an empty
    payload is delivered as normal to existing subscribers, removes the retained message
    and is not stored itself: a later subscriber receives nothing."""
    b = start()
    topic = b.ns + "clr/t"
    pub = Client(b, b.ns + "pub", version)
    pub.pub(topic, b"soon gone", qos=1, retain=True)
    existing = Client(b, b.ns + "existing", version)
    existing.sub(topic, 1)
    assert existing.recv()["payload"] == b"soon gone"
    pub.pub(topic, b"", qos=1, retain=True)
    m = existing.recv()
    assert (m["payload"], m["retain"]) == (b"", False)  # established subscription: RETAIN 0
    late = Client(b, b.ns + "late", version)
    late.sub(topic, 1)
    assert late.quiet(0.5) == []


@pytest.mark.parametrize("version", [4, 5])
def test_non_retained_publish_leaves_retained_alone(start, version):
    """3.1.1 MQTT-3.3.1-12 / 5.0 MQTT-3.3.1-8: RETAIN 0 neither stores nor replaces nor
    removes the retained message."""
    b = start()
    topic = b.ns + "keep/t"
    pub = Client(b, b.ns + "pub", version)
    pub.pub(topic, b"retained", qos=1, retain=True)
    pub.pub(topic, b"live only", qos=1)
    c = Client(b, b.ns + "c", version)
    c.sub(topic, 1)
    got = [c.recv()] + c.quiet(0.3)
    assert [m["payload"] for m in got] == [b"retained"]


def test_retained_with_wildcards(start):
    """3.1.1 / 5.0 MQTT-3.3.1-5 and 3.3.1.3 with wildcard filters (4.7.1): a new subscription
    receives the retained message of every topic its filter matches, and only those."""
    b = start()
    ns = b.ns
    topics = ["rw/a/x", "rw/b/x", "rw/a/y/z", "rw/c", "rw/a"]
    pub = Client(b, ns + "pub", 5)
    for t in topics:
        pub.pub(ns + t, t.encode(), qos=1, retain=True)
    cases = {
        "rw/+/x": {"rw/a/x", "rw/b/x"},
        "rw/#": set(topics),
        "rw/a/#": {"rw/a", "rw/a/x", "rw/a/y/z"},  # '#' also matches the parent (4.7.1.2)
        "rw/+": {"rw/c", "rw/a"},
        "rw/+/+/z": {"rw/a/y/z"},
        "rw/a/y": set(),
    }
    for i, (flt, want) in enumerate(cases.items()):
        c = Client(b, ns + "c%d" % i, 5)
        c.sub(ns + flt, 1)
        got = c.quiet(0.6)
        assert all(m["retain"] for m in got)
        assert sorted(m["topic"] for m in got) == sorted(ns + t for t in want), flt
        assert all(m["payload"] == m["topic"][len(ns):].encode() for m in got)


def test_retained_message_expiry(start):
    """5.0 MQTT-3.3.2-5: once its Message Expiry Interval has passed the retained message is
    no longer delivered to new subscribers; before that it is, with the interval
    decremented by the time it waited (MQTT-3.3.2-6)."""
    b = start()
    short, long_ = b.ns + "exp/short", b.ns + "exp/long"
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(short, b"short", qos=1, retain=True, properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 1)])
    pub.pub(long_, b"long", qos=1, retain=True, properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 100)])
    c = Client(b, b.ns + "early", 5)
    c.sub(b.ns + "exp/+", 1)
    got = sorted(c.recv_n(2), key=lambda m: m["topic"])
    assert [m["payload"] for m in got] == [b"long", b"short"]
    assert 1 <= got[1]["props"][raw.MESSAGE_EXPIRY] <= 1
    time.sleep(2.2)
    c = Client(b, b.ns + "late", 5)
    c.sub(b.ns + "exp/+", 1)
    got = [c.recv()] + c.quiet(0.4)
    assert [m["payload"] for m in got] == [b"long"]
    assert 90 <= got[0]["props"][raw.MESSAGE_EXPIRY] <= 98


def test_retain_not_available(start):
    """retain_available = false: 5.0 CONNACK Retain Available 0 (3.2.2.3.5); a retained
    PUBLISH from a v5 client is answered with DISCONNECT 0x9A (MQTT-3.2.2-14 / 3.2.2.3.5)."""
    b = start(settings={"retain_available": False})
    c = Client(b, b.ns + "c", 5)
    assert c.props.get(raw.RETAIN_AVAILABLE) == 0
    c.send(raw.publish(b.ns + "t", b"x", qos=1, retain=True, packet_id=1, version=5))
    assert c.disconnected() == (0x9A, True)


def test_mosquitto_pub_retained_seen_by_mosquitto_sub(start):
    """mosquitto_pub -r stores a retained message (MQTT-3.3.1-5); mosquitto_sub receives it
    on subscribing, with the retain flag (it prints only retained ones with
    --retained-only), and -r with an empty message clears it (MQTT-3.3.1-6)."""
    b = start()
    topic = b.ns + "mq/ret"
    base = ["-h", b.host, "-p", str(b.port)]
    subprocess.run(["mosquitto_pub"] + base + ["-t", topic, "-m", "hello", "-r", "-q", "1"], check=True, timeout=10)
    out = subprocess.run(["mosquitto_sub"] + base + ["-V", "mqttv5", "-t", topic, "--retained-only", "-C", "1",
                                                     "-W", "5", "-v"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "%s hello" % topic, out
    subprocess.run(["mosquitto_pub"] + base + ["-t", topic, "-n", "-r", "-q", "1"], check=True, timeout=10)
    c = Client(b, b.ns + "c", 4)
    c.sub(topic, 1)
    assert c.quiet(0.5) == []


# --------------------------------------------------------------------------- wills


def watcher(b, topic, version=5, qos=2):
    w = Client(b, b.ns + "watcher", version)
    w.sub(topic, qos)
    return w


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_abnormal_close(start, version):
    """3.1.1 MQTT-3.1.2-8 / 5.0 MQTT-3.1.2-8: the network connection closed without
    DISCONNECT -> the will is published (QoS as in the CONNECT, 3.1.1 MQTT-3.1.2-14)."""
    b = start()
    topic = b.ns + "will/t"
    w = watcher(b, topic)
    c = Client(b, b.ns + "dier", version, will=(topic, b"gone", 1, False))
    c.close()
    m = w.recv()
    assert (m["topic"], m["payload"], m["qos"], m["retain"]) == (topic, b"gone", 1, False)


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_keep_alive_expiry(start, version):
    """3.1.1 MQTT-3.1.2-24 / 5.0 MQTT-3.1.2-22: no packet within 1.5 x Keep Alive -> the
    server closes the connection, which is not a normal disconnection, so the will goes
    out (3.1.1 3.1.2.5 / 5.0 MQTT-3.1.2-8)."""
    b = start()
    topic = b.ns + "will/ka"
    w = watcher(b, topic)
    c = Client(b, b.ns + "silent", version, keepalive=1, will=(topic, b"timed out", 0, False))
    m = w.recv(timeout=5)
    assert m["payload"] == b"timed out"
    reason, closed = c.disconnected(timeout=1)
    assert closed and reason in (None, 0x8D)


@pytest.mark.parametrize("version", [4, 5])
def test_no_will_on_normal_disconnect(start, version):
    """3.1.1 MQTT-3.1.2-10 / 5.0 MQTT-3.1.2-10, MQTT-3.14.4-3: DISCONNECT (reason 0x00)
    deletes the will without publishing it."""
    b = start()
    topic = b.ns + "will/none"
    w = watcher(b, topic)
    c = Client(b, b.ns + "polite", version, will=(topic, b"must not", 1, False))
    c.bye(reason=0 if version == 5 else None)
    assert w.quiet(1.0) == []


def test_will_on_disconnect_with_will_message(start):
    """5.0 3.14.2.1: DISCONNECT reason 0x04 (Disconnect with Will Message) -> the will is
    published (it is not a 0x00 DISCONNECT, MQTT-3.1.2-8)."""
    b = start()
    topic = b.ns + "will/04"
    w = watcher(b, topic)
    c = Client(b, b.ns + "asks", 5, will=(topic, b"as asked", 1, False))
    c.bye(reason=0x04)
    assert w.recv()["payload"] == b"as asked"


def test_will_on_takeover_without_delay(start):
    """5.0 MQTT-3.1.4-3 with MQTT-3.1.2-8: the old connection is closed by the server, not
    by a DISCONNECT 0x00, so its will (no delay) is published."""
    b = start()
    topic = b.ns + "will/takeover"
    w = watcher(b, topic)
    Client(b, b.ns + "twin", 5, will=(topic, b"taken over", 1, False))
    Client(b, b.ns + "twin", 5)
    assert w.recv()["payload"] == b"taken over"


def will_with_delay(topic, payload, delay, qos=1, retain=False):
    return (topic, payload, qos, retain, [raw.p_u32(raw.WILL_DELAY, delay)])


def test_will_delay_reconnect_in_time_suppresses_will(start):
    """5.0 MQTT-3.1.3-9: if a new connection to the session is made before the Will Delay
    Interval has passed, the will is not sent."""
    b = start()
    topic, cid = b.ns + "will/delay", b.ns + "delayed"
    w = watcher(b, topic)
    props = [raw.p_u32(raw.SESSION_EXPIRY, 60)]
    c = Client(b, cid, 5, clean=False, properties=props, will=will_with_delay(topic, b"late", 2))
    c.close()
    c = Client(b, cid, 5, clean=False, properties=props)
    assert c.present is True
    assert w.quiet(3.0) == []


def test_will_delay_sent_after_the_delay(start):
    """5.0 MQTT-3.1.2-8 and 3.1.3.2.2: with Will Delay Interval 1 (and a longer session) the
    will is published after the delay, not at the close."""
    b = start()
    topic, cid = b.ns + "will/after", b.ns + "delayed2"
    w = watcher(b, topic)
    c = Client(b, cid, 5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 60)],
               will=will_with_delay(topic, b"after delay", 1))
    c.close()
    closed_at = time.monotonic()
    assert w.quiet(0.5) == []  # not at once
    m = w.recv(timeout=5)
    assert m["payload"] == b"after delay"
    assert time.monotonic() - closed_at >= 0.9


def test_will_sent_when_session_ends_before_delay(start):
    """5.0 MQTT-3.1.2-8, 3.1.3.2.2: the will is published when the delay passes or the
    session ends, whichever is first: Session Expiry 1 s, Will Delay 60 s -> about 1 s."""
    b = start()
    topic = b.ns + "will/sessend"
    w = watcher(b, topic)
    c = Client(b, b.ns + "short", 5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 1)],
               will=will_with_delay(topic, b"session over", 60))
    c.close()
    assert w.recv(timeout=5)["payload"] == b"session over"


def test_will_delay_then_clean_start_reconnect_sends_will(start):
    """5.0 3.1.3.2.2 / MQTT-3.1.2-8: a reconnect with Clean Start 1 ends the old session,
    so the delayed will is published then (not suppressed as by MQTT-3.1.3-9)."""
    b = start()
    topic, cid = b.ns + "will/cleanre", b.ns + "cleanre"
    w = watcher(b, topic)
    c = Client(b, cid, 5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 60)],
               will=will_with_delay(topic, b"old session ended", 30))
    c.close()
    time.sleep(0.2)
    Client(b, cid, 5, clean=True)
    assert w.recv(timeout=3)["payload"] == b"old session ended"


@pytest.mark.parametrize("version", [4, 5])
def test_will_retain_and_qos(start, version):
    """3.1.1 MQTT-3.1.2-14, -17 / 5.0 3.1.2.6, MQTT-3.1.2-15: a will with Will QoS 2 and Will
    Retain 1 is published at QoS 2 as a retained message: a later subscriber receives it
    with RETAIN 1."""
    b = start()
    topic = b.ns + "will/ret"
    w = watcher(b, topic, qos=2)
    c = Client(b, b.ns + "dier", version, will=(topic, b"last words", 2, True))
    c.close()
    m = w.recv()
    assert (m["payload"], m["qos"]) == (b"last words", 2)
    late = Client(b, b.ns + "late", version)
    late.sub(topic, 2)
    m = late.recv()
    assert (m["payload"], m["qos"], m["retain"]) == (b"last words", 2, True)


@pytest.mark.parametrize("version", [4, 5])
def test_will_without_retain_is_not_stored(start, version):
    """3.1.1 MQTT-3.1.2-16 / 5.0 MQTT-3.1.2-14: Will Retain 0 -> published as a non-retained
    message: a later subscriber gets nothing."""
    b = start()
    topic = b.ns + "will/noret"
    w = watcher(b, topic)
    Client(b, b.ns + "dier", version, will=(topic, b"fleeting", 0, False)).close()
    assert w.recv()["payload"] == b"fleeting"
    late = Client(b, b.ns + "late", version)
    late.sub(topic, 1)
    assert late.quiet(0.4) == []


def test_will_properties_forwarded(start):
    """5.0 3.1.3.2: the will's Content Type, Response Topic, Correlation Data, Payload Format
    Indicator and User Properties are sent with it unaltered (MQTT-3.3.2-4, -15, -16,
    -17, -20)."""
    b = start()
    topic = b.ns + "will/props"
    w = watcher(b, topic)
    wprops = [raw.p_byte(raw.PAYLOAD_FORMAT, 1), raw.p_str(raw.CONTENT_TYPE, "text/plain"),
              raw.p_str(raw.RESPONSE_TOPIC, b.ns + "reply"), raw.p_bin(raw.CORRELATION_DATA, b"\x00\xffid"),
              raw.p_user("k", "v1"), raw.p_user("k", "v2")]
    Client(b, b.ns + "dier", 5, will=(topic, "adieu", 1, False, wprops)).close()
    m = w.recv()
    p = m["props"]
    assert m["payload"] == b"adieu"
    assert p[raw.PAYLOAD_FORMAT] == 1 and p[raw.CONTENT_TYPE] == "text/plain"
    assert p[raw.RESPONSE_TOPIC] == b.ns + "reply" and p[raw.CORRELATION_DATA] == b"\x00\xffid"
    assert p[raw.USER_PROPERTY] == [("k", "v1"), ("k", "v2")]


def test_will_seen_by_mosquitto_sub(start):
    """mosquitto_pub's will (--will-topic ...) from a client that never disconnects cleanly
    reaches mosquitto_sub (3.1.1 MQTT-3.1.2-8): here the will comes from a raw client that
    drops its socket; mosquitto_sub (3.1.1) prints it."""
    b = start()
    topic = b.ns + "will/mosq"
    ready = b.ns + "will/ready"
    Client(b, b.ns + "flag", 4).pub(ready, b"ready", qos=1, retain=True)
    sub = subprocess.Popen(["mosquitto_sub", "-h", b.host, "-p", str(b.port), "-V", "mqttv311",
                            "-t", topic, "-t", ready, "-C", "2", "-W", "8", "-v", "-q", "1"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sub.stdout.readline().strip() == "%s ready" % ready  # subscribed
        c = Client(b, b.ns + "dier", 4, will=(topic, b"bye bye", 1, False))
        c.close()
        assert sub.stdout.readline().strip() == "%s bye bye" % topic
    finally:
        sub.kill()
        sub.wait()
