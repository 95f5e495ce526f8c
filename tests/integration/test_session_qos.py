"""Session layer, QoS: the QoS 0/1/2 flows in both directions, packet identifiers, the
downgrade to the granted QoS, exactly-once across reconnects, the in-flight window
(the client's Receive Maximum), retransmission with DUP on resume, per-topic ordering,
offline queues of persistent sessions and the max_queued_messages limit.

Statement ids: "3.1.1" = MQTT 3.1.1, "5.0" = MQTT 5.0 (OASIS)."""

import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

import mqtt_raw as raw
from mqtt_raw import Client, persistent


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_qos_flow_both_directions(start, version, qos):
    """3.1.1 / 5.0 4.3.1-4.3.3: the publisher's flow is answered with its own packet id
    (PUBACK: 3.1.1 MQTT-4.3.2-2 / 5.0 MQTT-4.3.2-4; PUBREC, then PUBCOMP for its PUBREL:
    3.1.1 MQTT-4.3.3-2 / 5.0 MQTT-4.3.3-8, -11), and the subscriber (granted QoS 2)
    receives the message at the published QoS, with a non-zero packet id for QoS > 0
    (3.1.1 MQTT-2.3.1-1, 5.0 MQTT-2.2.1-4)."""
    b = start()
    topic = b.ns + "flow/t"
    sub = Client(b, b.ns + "sub", version, auto_ack=False)
    assert sub.sub(topic, 2) == [2]
    pub = Client(b, b.ns + "pub", version)
    pid = 0x1234
    pub.send(raw.publish(topic, b"payload-%d" % qos, qos=qos, packet_id=pid, version=version))
    if qos == 1:
        _, body = pub.wait(raw.PUBACK)
        assert raw.parse_pub_response(body, version)[:2] == (pid, 0)
    elif qos == 2:
        _, body = pub.wait(raw.PUBREC)
        assert raw.parse_pub_response(body, version)[:2] == (pid, 0)
        pub.send(raw.ack(raw.PUBREL, pid, version))
        _, body = pub.wait(raw.PUBCOMP)
        assert raw.parse_pub_response(body, version)[:2] == (pid, 0)
    m = sub.recv()
    assert (m["topic"], m["payload"], m["qos"], m["retain"], m["dup"]) == (topic, b"payload-%d" % qos, qos, False, False)
    if qos == 0:
        assert m["packet_id"] is None
        return
    assert m["packet_id"] != 0
    if qos == 1:
        sub.send(raw.ack(raw.PUBACK, m["packet_id"], version))
    else:
        sub.send(raw.ack(raw.PUBREC, m["packet_id"], version))
        f, body = sub.wait(raw.PUBREL)
        assert f == 2  # MQTT-3.6.1-1: PUBREL fixed header flags 0010
        assert raw.parse_pub_response(body, version)[0] == m["packet_id"]
        sub.send(raw.ack(raw.PUBCOMP, m["packet_id"], version))
    sub.ping()
    assert sub.quiet(0.3) == []  # acknowledged: no retransmission, no second copy


@pytest.mark.parametrize("version", [4, 5])
def test_delivery_qos_is_min_of_granted_and_published(start, version):
    """3.1.1 MQTT-3.8.4-6 / 5.0 MQTT-3.8.4-8: messages sent for a subscription carry the
    minimum of the published QoS and the granted QoS."""
    b = start()
    topic = b.ns + "down/t"
    subs = {}
    for q in (0, 1, 2):
        subs[q] = Client(b, b.ns + "sub%d" % q, version)
        assert subs[q].sub(topic, q) == [q]
    pub = Client(b, b.ns + "pub", version)
    for pq in (0, 1, 2):
        pub.pub(topic, b"at %d" % pq, qos=pq)
        for sq, c in subs.items():
            m = c.recv()
            assert m["payload"] == b"at %d" % pq
            assert m["qos"] == min(pq, sq), (pq, sq)


def test_max_qos_setting_grants_and_refuses(start):
    """max_qos = 1: 5.0 CONNACK Maximum QoS 1 (3.2.2.3.4); SUBACK grants at most 1 (5.0
    3.9.3); a QoS 2 PUBLISH from a v5 client is answered with DISCONNECT 0x9B (QoS not
    supported, 5.0 MQTT-3.2.2-11 / 3.3.1.2)."""
    b = start(settings={"max_qos": 1})
    c = Client(b, b.ns + "c", 5)
    assert c.props.get(raw.MAXIMUM_QOS) == 1
    assert c.sub(b.ns + "mq/t", 2) == [1]
    c.send(raw.publish(b.ns + "mq/t", b"x", qos=2, packet_id=3, version=5))
    assert c.disconnected() == (0x9B, True)


@pytest.mark.parametrize("version", [4, 5])
def test_packet_ids_in_flight_are_distinct(start, version):
    """3.1.1 MQTT-2.3.1-4 / 5.0 MQTT-2.2.1-4: each new QoS > 0 PUBLISH from the server uses
    a non-zero, currently unused packet id: ten unacknowledged messages, ten ids."""
    b = start()
    topic = b.ns + "ids/t"
    props = [raw.p_u16(raw.RECEIVE_MAXIMUM, 20)] if version == 5 else None
    sub = Client(b, b.ns + "sub", version, auto_ack=False, properties=props)
    sub.sub(topic, 2)
    pub = Client(b, b.ns + "pub", version)
    for i in range(10):
        pub.pub(topic, b"%d" % i, qos=1 + i % 2)
    got = sub.recv_n(10)
    assert [m["payload"] for m in got] == [b"%d" % i for i in range(10)]
    ids = [m["packet_id"] for m in got]
    assert 0 not in ids and len(set(ids)) == 10


def test_receive_maximum_limits_unacknowledged_qos1(start):
    """5.0 MQTT-3.3.4-9: with Receive Maximum 2 the server has at most 2 QoS 1 PUBLISH
    unacknowledged; each PUBACK frees one place; nothing is lost and the order holds."""
    b = start()
    topic = b.ns + "rm/t"
    sub = Client(b, b.ns + "sub", 5, auto_ack=False, properties=[raw.p_u16(raw.RECEIVE_MAXIMUM, 2)])
    sub.sub(topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    for i in range(6):
        pub.pub(topic, b"%d" % i, qos=1)
    first = sub.recv_n(2)
    assert sub.quiet(0.5) == []  # the window is full
    sub.send(raw.ack(raw.PUBACK, first[0]["packet_id"], 5))
    third = sub.recv()
    assert sub.quiet(0.4) == []  # one freed, one sent
    got = first + [third]
    pending = [first[1], third]
    while len(got) < 6:
        sub.send(raw.ack(raw.PUBACK, pending.pop(0)["packet_id"], 5))
        m = sub.recv()
        got.append(m)
        pending.append(m)
        assert len(pending) <= 2
    assert [m["payload"] for m in got] == [b"%d" % i for i in range(6)]


def test_receive_maximum_counts_qos2_until_pubcomp(start):
    """5.0 MQTT-3.3.4-9: a QoS 2 message counts against Receive Maximum until PUBCOMP (only
    PUBACK, PUBCOMP or an error PUBREC frees the place): with Receive Maximum 1 the second
    message waits while the first is between PUBREC and PUBCOMP."""
    b = start()
    topic = b.ns + "rm2/t"
    sub = Client(b, b.ns + "sub", 5, auto_ack=False, properties=[raw.p_u16(raw.RECEIVE_MAXIMUM, 1)])
    sub.sub(topic, 2)
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"one", qos=2)
    pub.pub(topic, b"two", qos=2)
    m1 = sub.recv()
    assert m1["payload"] == b"one"
    sub.send(raw.ack(raw.PUBREC, m1["packet_id"], 5))
    _, body = sub.wait(raw.PUBREL)
    assert raw.parse_pub_response(body, 5)[0] == m1["packet_id"]
    assert sub.quiet(0.5) == []  # still in flight until PUBCOMP
    sub.send(raw.ack(raw.PUBCOMP, m1["packet_id"], 5))
    m2 = sub.recv()
    assert (m2["payload"], m2["qos"]) == (b"two", 2)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [1, 2])
def test_unacknowledged_publish_resent_with_dup_on_resume(start, version, qos):
    """3.1.1 / 5.0 MQTT-4.4.0-1: on resuming a session the server resends unacknowledged
    PUBLISH packets with their original packet ids, DUP set (3.1.1 MQTT-3.3.1-1 / 5.0
    MQTT-3.3.1-1); once acknowledged they are not sent again."""
    b = start()
    cid, topic = b.ns + "resume", b.ns + "resume/t"
    sub = Client(b, cid, version, auto_ack=False, **persistent(version))
    sub.sub(topic, 2)
    pub = Client(b, b.ns + "pub", version)
    pub.pub(topic, b"first", qos=qos)
    pub.pub(topic, b"second", qos=qos)
    orig = sub.recv_n(2)
    assert [m["dup"] for m in orig] == [False, False]
    sub.close()  # no acknowledgement, no DISCONNECT
    sub = Client(b, cid, version, auto_ack=False, **persistent(version))
    assert sub.present is True
    again = sub.recv_n(2)
    assert [(m["payload"], m["packet_id"], m["qos"], m["dup"]) for m in again] == \
           [(m["payload"], m["packet_id"], qos, True) for m in orig]
    for m in again:
        sub.send(raw.ack(raw.PUBACK if qos == 1 else raw.PUBREC, m["packet_id"], version))
        if qos == 2:
            _, body = sub.wait(raw.PUBREL)
            sub.send(raw.ack(raw.PUBCOMP, raw.parse_pub_response(body, version)[0], version))
    sub.ping()
    sub.close()
    sub = Client(b, cid, version, auto_ack=False, **persistent(version))
    assert sub.quiet(0.5) == []


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_pubrel_resent_not_publish_after_pubrec(start, version):
    """3.1.1 / 5.0 MQTT-4.4.0-1 and 4.3.3: once the subscriber sent PUBREC the server owes
    only PUBREL; after a reconnect it resends PUBREL (same id), never the PUBLISH again, so
    the message is delivered exactly once."""
    b = start()
    cid, topic = b.ns + "rel", b.ns + "rel/t"
    sub = Client(b, cid, version, auto_ack=False, **persistent(version))
    sub.sub(topic, 2)
    Client(b, b.ns + "pub", version).pub(topic, b"once", qos=2)
    m = sub.recv()
    sub.send(raw.ack(raw.PUBREC, m["packet_id"], version))
    f, body = sub.wait(raw.PUBREL)
    sub.close()  # before PUBCOMP
    sub = Client(b, cid, version, auto_ack=False, **persistent(version))
    f, body = sub.wait(raw.PUBREL)
    assert f == 2 and raw.parse_pub_response(body, version)[0] == m["packet_id"]
    sub.send(raw.ack(raw.PUBCOMP, m["packet_id"], version))
    sub.ping()
    assert sub.quiet(0.5) == []  # no second PUBLISH


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_publisher_resend_after_reconnect_not_duplicated(start, version):
    """3.1.1 MQTT-4.3.3-2 / 5.0 MQTT-4.3.3-10 (until PUBREL the receiver answers any
    PUBLISH with the same packet id with PUBREC and MUST NOT cause duplicate onward
    delivery) across a reconnect of the publisher's persistent session (MQTT-4.4.0-1:
    the publisher resends with DUP and the original id)."""
    b = start()
    topic = b.ns + "pq2/t"
    sub = Client(b, b.ns + "sub", version)
    sub.sub(topic, 2)
    cid = b.ns + "pq2-pub"
    pub = Client(b, cid, version, **persistent(version))
    pub.send(raw.publish(topic, b"exactly once", qos=2, packet_id=77, version=version))
    _, body = pub.wait(raw.PUBREC)
    assert raw.parse_pub_response(body, version)[0] == 77
    pub.close()  # the publisher goes away before PUBREL
    pub = Client(b, cid, version, **persistent(version))
    assert pub.present is True
    pub.send(raw.publish(topic, b"exactly once", qos=2, dup=True, packet_id=77, version=version))
    _, body = pub.wait(raw.PUBREC)
    assert raw.parse_pub_response(body, version)[0] == 77
    pub.send(raw.ack(raw.PUBREL, 77, version))
    _, body = pub.wait(raw.PUBCOMP)
    assert raw.parse_pub_response(body, version)[:2] == (77, 0)
    got = [sub.recv()] + sub.quiet(0.6)
    assert [m["payload"] for m in got] == [b"exactly once"]


def test_qos2_resend_on_same_connection_not_duplicated(start):
    """5.0 MQTT-4.3.3-10 on one connection: a DUP retransmission before PUBREL gets PUBREC
    and is not forwarded again."""
    b = start()
    topic = b.ns + "dup/t"
    sub = Client(b, b.ns + "sub", 5)
    sub.sub(topic, 2)
    pub = Client(b, b.ns + "pub", 5)
    for dup in (False, True, True):
        pub.send(raw.publish(topic, b"m", qos=2, dup=dup, packet_id=9, version=5))
        _, body = pub.wait(raw.PUBREC)
        assert raw.parse_pub_response(body, 5)[0] == 9
    pub.send(raw.ack(raw.PUBREL, 9, 5))
    pub.wait(raw.PUBCOMP)
    got = [sub.recv()] + sub.quiet(0.6)
    assert len(got) == 1


def test_ordering_per_topic_across_workers(start):
    """3.1.1 MQTT-4.6.0-6 / 5.0 MQTT-4.6.0-5, -6: every topic is an Ordered Topic; each
    subscriber gets one publisher's messages (same topic, same QoS) in publication order.
    Four workers and six subscribers, so most deliveries cross workers."""
    b = start(workers=4)
    topic = b.ns + "order/t"
    subs = [Client(b, b.ns + "sub%d" % i, 5) for i in range(6)]
    for s in subs:
        s.sub(topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    n = 200
    for start_i in range(0, n, 10):  # pipelined in batches within the server's window
        ids = []
        for i in range(start_i, start_i + 10):
            p = pub.pid()
            ids.append(p)
            pub.send(raw.publish(topic, b"%04d" % i, qos=1, packet_id=p, version=5))
        for p in ids:
            _, body = pub.wait(raw.PUBACK)
    for s in subs:
        got = [m["payload"] for m in s.recv_n(n)]
        assert got == [b"%04d" % i for i in range(n)]


@pytest.mark.parametrize("version", [4, 5])
def test_offline_messages_queued_for_persistent_session(start, version):
    """3.1.1 MQTT-3.1.2-5 / 5.0 3.1.2.4 and 4.1: QoS 1 and 2 messages matching the
    subscriptions of a disconnected persistent session are stored and delivered, in
    order, when it resumes."""
    b = start()
    cid, topic = b.ns + "offline", b.ns + "offline/t"
    c = Client(b, cid, version, **persistent(version))
    c.sub(topic, 2)
    c.bye()
    pub = Client(b, b.ns + "pub", version)
    for i in range(5):
        pub.pub(topic, b"q%d" % i, qos=1 + i % 2)
    c = Client(b, cid, version, **persistent(version))
    assert c.present is True
    got = c.recv_n(5)
    assert [(m["payload"], m["qos"]) for m in got] == [(b"q%d" % i, 1 + i % 2) for i in range(5)]
    assert c.quiet(0.3) == []


def test_max_queued_messages_drops_beyond_the_limit(start):
    """max_queued_messages = 3: an offline session keeps at most three messages (the
    broker's limit on the state MQTT 3.1.2-5 / 5.0 4.1 lets it store); what is kept is
    delivered in publication order and the rest is gone."""
    b = start(settings={"max_queued_messages": 3})
    cid, topic = b.ns + "full", b.ns + "full/t"
    c = Client(b, cid, 5, **persistent(5))
    c.sub(topic, 1)
    c.bye()
    pub = Client(b, b.ns + "pub", 5)
    for i in range(8):
        pub.pub(topic, b"%d" % i, qos=1)
    c = Client(b, cid, 5, **persistent(5))
    got = c.recv_n(3) + c.quiet(0.6)
    payloads = [m["payload"] for m in got]
    assert len(payloads) == 3, payloads
    assert payloads == sorted(payloads) and set(payloads) <= {b"%d" % i for i in range(8)}


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_publishes_and_receives_all_qos(start, protocol):
    """paho-mqtt publishing at QoS 0/1/2 to its own subscription (granted 2): every message
    comes back once with its QoS (min of published and granted, 3.1.1 MQTT-3.8.4-6 /
    5.0 MQTT-3.8.4-8)."""
    b = start()
    topic = b.ns + "paho/t"
    got = []
    done = threading.Event()
    subscribed = threading.Event()
    c = mqtt.Client(client_id=b.ns + "paho", protocol=protocol)

    def on_message(client, userdata, msg):
        got.append((msg.payload, msg.qos))
        if len(got) >= 30:
            done.set()

    c.on_message = on_message
    c.on_subscribe = lambda *a, **k: subscribed.set()
    c.connect(b.host, b.port, keepalive=30)
    c.loop_start()
    try:
        c.subscribe(topic, qos=2)
        assert subscribed.wait(5)
        infos = [c.publish(topic, b"%d-%d" % (i % 3, i), qos=i % 3) for i in range(30)]
        for info in infos:
            info.wait_for_publish(5)
            assert info.is_published()
        assert done.wait(5), got
    finally:
        c.disconnect()
        c.loop_stop()
    assert sorted(got) == sorted((b"%d-%d" % (i % 3, i), i % 3) for i in range(30))


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_clients_queue_qos2_for_persistent_session(start, version):
    """mosquitto_sub -c (persistent session) subscribes and leaves; three QoS 2 messages
    from mosquitto_pub are stored (3.1.1 MQTT-3.1.2-5 / 5.0 4.1) and the next
    mosquitto_sub -c with the same id receives exactly them, in order (MQTT-4.6.0-5/6)."""
    b = start()
    topic, cid = b.ns + "mosq/t", b.ns + "mosq-sub"
    common = ["-h", b.host, "-p", str(b.port), "-V", version]
    expiry = ["-x", "300"] if version == "mqttv5" else []
    subprocess.run(["mosquitto_sub"] + common + expiry + ["-c", "-i", cid, "-q", "2", "-t", topic, "-E"],
                   check=True, timeout=10)
    for i in range(3):
        subprocess.run(["mosquitto_pub"] + common + ["-q", "2", "-t", topic, "-m", "msg %d" % i],
                       check=True, timeout=10)
    out = subprocess.run(["mosquitto_sub"] + common + expiry + ["-c", "-i", cid, "-q", "2", "-t", topic,
                                                               "-C", "3", "-W", "5"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.splitlines() == ["msg 0", "msg 1", "msg 2"], out
