"""Session layer, $SYS topics: published every `sys_interval` seconds under Mosquitto's
names, retained, kept up to date; never matched by filters starting with a wildcard.

$SYS is not specified by MQTT (5.0 4.7.2 only reserves "$" topics); the names follow
Mosquitto's. Statement ids: "3.1.1" = MQTT 3.1.1, "5.0" = MQTT 5.0 (OASIS)."""

import re
import time

import mqtt_raw as raw
from mqtt_raw import Client

SYS = {"sys_interval": 1}


def latest(c, topic, seconds):
    """Values of `topic` received within `seconds` (payloads, in order)."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out += [m["payload"].decode() for m in c.quiet(min(0.3, deadline - time.monotonic()))
                if m["topic"] == topic]
    return out


def wait_value(c, topic, pred, timeout=5.0):
    """Reads `topic` until a value satisfies pred; returns it (asserts it comes)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            m = c.recv(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        if m["topic"] == topic:
            seen.append(m["payload"].decode())
            if pred(seen[-1]):
                return seen[-1]
    raise AssertionError("%s never satisfied the condition; saw %r" % (topic, seen))


def test_sys_topics_published_with_mosquitto_names(start):
    """Every second (sys_interval = 1) the broker publishes, retained, under Mosquitto's
    names: version, uptime ("N seconds"), clients/connected, messages/received,
    subscriptions/count, "retained messages/count" (numbers as decimal text)."""
    b = start(settings=SYS)
    c = Client(b, b.ns + "sys", 4)
    c.sub("$SYS/broker/#", 0)
    wanted = {
        "$SYS/broker/version": r".+",
        "$SYS/broker/uptime": r"\d+ seconds",
        "$SYS/broker/clients/connected": r"\d+",
        "$SYS/broker/messages/received": r"\d+",
        "$SYS/broker/messages/sent": r"\d+",
        "$SYS/broker/subscriptions/count": r"\d+",
        "$SYS/broker/retained messages/count": r"\d+",
    }
    seen = {}
    deadline = time.monotonic() + 4
    # The retained values may predate this client: read on until it is counted.
    while (set(wanted) - set(seen) or int(seen.get("$SYS/broker/clients/connected", 0)) < 1) \
            and time.monotonic() < deadline:
        for m in c.quiet(0.3):
            seen[m["topic"]] = m["payload"].decode()
    assert set(wanted) <= set(seen), sorted(set(wanted) - set(seen))
    for topic, pattern in wanted.items():
        assert re.fullmatch(pattern, seen[topic]), (topic, seen[topic])
    assert int(seen["$SYS/broker/clients/connected"]) >= 1
    if getattr(b, "is_mqttd", False):
        assert seen["$SYS/broker/version"].startswith("mqttd ")


def test_sys_retained_for_late_subscribers(start):
    """The $SYS values are retained (3.1.1 / 5.0 MQTT-3.3.1-5): a subscriber arriving after
    the first update gets them at once, with RETAIN 1."""
    b = start(settings=SYS)
    time.sleep(1.5)
    c = Client(b, b.ns + "late", 5)
    c.sub("$SYS/broker/uptime", 0)
    m = c.recv(timeout=0.9)  # before the next update would come
    assert m["retain"] is True and re.fullmatch(r"\d+ seconds", m["payload"].decode())


def test_sys_updated_every_interval(start):
    """sys_interval = 1: uptime is published again and again (at least twice more within
    4 s), counting up."""
    b = start(settings=SYS)
    c = Client(b, b.ns + "sys", 5)
    c.sub("$SYS/broker/uptime", 0)
    values = latest(c, "$SYS/broker/uptime", 4.2)
    assert len(values) >= 3, values  # the retained one and two updates
    secs = [int(v.split()[0]) for v in values]
    assert secs == sorted(secs) and secs[-1] > secs[0]


def test_sys_clients_connected_follows_connections(start):
    """$SYS/broker/clients/connected counts connected clients: three more connections raise
    it by (at least) three, closing them lowers it again."""
    b = start(settings=SYS, workers=4)
    c = Client(b, b.ns + "sys", 5)
    c.sub("$SYS/broker/clients/connected", 0)
    base = int(wait_value(c, "$SYS/broker/clients/connected", lambda v: int(v) >= 1))
    extra = [Client(b, b.ns + "x%d" % i, 4) for i in range(3)]
    wait_value(c, "$SYS/broker/clients/connected", lambda v: int(v) >= base + 3)
    for e in extra:
        e.bye()
    wait_value(c, "$SYS/broker/clients/connected", lambda v: int(v) <= base)


def test_sys_counters_follow_traffic(start):
    """messages/received grows with the packets received, subscriptions/count with new
    subscriptions, "retained messages/count" with new retained topics."""
    b = start(settings=SYS, workers=4)
    c = Client(b, b.ns + "sys", 5)
    c.sub("$SYS/broker/#", 0)
    first = {}
    deadline = time.monotonic() + 4
    keys = ("$SYS/broker/messages/received", "$SYS/broker/subscriptions/count",
            "$SYS/broker/retained messages/count")
    while len(first) < 3 and time.monotonic() < deadline:
        for m in c.quiet(0.3):
            if m["topic"] in keys and m["topic"] not in first:
                first[m["topic"]] = int(m["payload"])
    assert len(first) == 3, first
    other = Client(b, b.ns + "other", 5)
    other.sub([(b.ns + "s%d" % i, 0) for i in range(4)])
    for i in range(3):
        other.pub(b.ns + "r%d" % i, b"v", qos=1, retain=True)
    want = dict(zip(keys, (4, 4, 3)))  # SUBSCRIBE + 3 PUBLISH; 4 filters; 3 topics
    last = dict(first)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(last[k] < first[k] + want[k] for k in keys):
        for m in c.quiet(0.3):
            if m["topic"] in keys:
                last[m["topic"]] = int(m["payload"])
    for k in keys:
        assert last[k] >= first[k] + want[k], (k, first[k], last[k])


def test_wildcards_do_not_match_sys_topics(start):
    """3.1.1 MQTT-4.7.2-1 / 5.0 MQTT-4.7.2-1: filters starting with '#' or '+' do not match
    topic names starting with '$', while "$SYS/#" does."""
    b = start(settings=SYS)
    wild = Client(b, b.ns + "wild", 5)
    wild.sub([("#", 0), ("+/broker/#", 0), ("+/+/uptime", 0)])
    sys = Client(b, b.ns + "sys", 5)
    sys.sub("$SYS/#", 0)
    assert wait_value(sys, "$SYS/broker/uptime", lambda v: True)
    time.sleep(1.2)  # at least one further update
    got = wild.quiet(0.2)
    assert [m["topic"] for m in got if m["topic"].startswith("$")] == []


def test_sys_disabled_with_interval_zero(start):
    """sys_interval = 0 (the test default) disables $SYS: nothing is published there."""
    b = start(settings={"sys_interval": 0}, mqttd_only=True)
    c = Client(b, b.ns + "sys", 5)
    c.sub("$SYS/#", 0)
    assert c.quiet(1.5) == []
