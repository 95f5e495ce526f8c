"""Session layer, MQTT 5 features: topic aliases both ways, message expiry, Maximum
Packet Size both ways, forwarded publish properties, Request Problem Information,
Server Keep Alive, Receive Maximum towards the server, enhanced authentication refused.

Statement ids: "5.0" = MQTT 5.0 (OASIS)."""

import time

import mqtt_raw as raw
from mqtt_raw import Client


def alias(n):
    return [raw.p_u16(raw.TOPIC_ALIAS, n)]


def test_inbound_topic_alias_set_and_use(start):
    """5.0 3.3.2.3.4 and MQTT-3.3.2-12: the server accepts Topic Alias values 1..its Topic
    Alias Maximum (advertised in CONNACK, 3.2.2.3.8); a PUBLISH with a topic and an alias
    sets the mapping, one with an empty topic and the alias uses it, a new topic with the
    same alias replaces it. Subscribers without aliases see full topic names."""
    b = start()
    sub = Client(b, b.ns + "sub", 5)
    sub.sub(b.ns + "ta/+", 1)
    pub = Client(b, b.ns + "pub", 5)
    top = pub.props.get(raw.TOPIC_ALIAS_MAXIMUM, 0)
    assert top >= 1
    pub.pub(b.ns + "ta/x", b"1", qos=1, properties=alias(top))
    pub.pub("", b"2", qos=1, properties=alias(top))
    pub.pub(b.ns + "ta/y", b"3", qos=1, properties=alias(top))
    pub.pub("", b"4", qos=1, properties=alias(top))
    got = sub.recv_n(4)
    assert [(m["topic"], m["payload"]) for m in got] == [
        (b.ns + "ta/x", b"1"), (b.ns + "ta/x", b"2"), (b.ns + "ta/y", b"3"), (b.ns + "ta/y", b"4")]
    assert all(raw.TOPIC_ALIAS not in m["props"] for m in got)  # MQTT-3.3.2-11: its maximum is 0


def test_inbound_topic_alias_above_maximum_disconnects(start):
    """5.0 MQTT-3.3.2-9 / 3.3.2.3.4: a Topic Alias above the server's Topic Alias Maximum is
    a Topic Alias invalid error: DISCONNECT 0x94, close (4.13)."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    top = c.props.get(raw.TOPIC_ALIAS_MAXIMUM, 0)
    c.send(raw.publish(b.ns + "t", b"x", version=5, properties=alias(top + 1)))
    assert c.disconnected() == (0x94, True)


def test_inbound_topic_alias_zero_disconnects(start):
    """5.0 MQTT-3.3.2-8: Topic Alias 0 is not permitted: DISCONNECT 0x94 (Topic Alias
    invalid; 0x82 or 0x81 are also defensible, 4.13), then close."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.send(raw.publish(b.ns + "t", b"x", version=5, properties=alias(0)))
    reason, closed = c.disconnected()
    assert closed and reason in (0x94, 0x82, 0x81)


def test_inbound_topic_alias_not_carried_to_next_connection(start):
    """5.0 MQTT-3.3.2-7: alias mappings do not survive the connection (even when the session
    does): an empty topic with an alias set on the previous connection is a protocol
    error (3.3.2.3.4: no mapping) -> DISCONNECT 0x82 (or 0x94), close."""
    b = start()
    cid = b.ns + "forgets"
    props = [raw.p_u32(raw.SESSION_EXPIRY, 60)]
    c = Client(b, cid, 5, clean=False, properties=props)
    c.pub(b.ns + "al/t", b"x", qos=1, properties=alias(1))
    c.bye()
    c = Client(b, cid, 5, clean=False, properties=props)
    assert c.present is True
    c.send(raw.publish("", b"y", qos=1, packet_id=2, version=5, properties=alias(1)))
    reason, closed = c.disconnected()
    assert closed and reason in (0x82, 0x94)


def resolve(m, table):
    """Applies the receiver side of 5.0 3.3.2.3.4 to a received PUBLISH."""
    a = m["props"].get(raw.TOPIC_ALIAS)
    if a is None:
        assert m["topic"], "empty topic without an alias"
        return m["topic"]
    if m["topic"]:
        table[a] = m["topic"]
        return m["topic"]
    assert a in table, "alias %d used before it was set" % a
    return table[a]


def test_outbound_topic_aliases_within_client_maximum(start):
    """5.0 MQTT-3.3.2-11 (the server never sends an alias above the client's Topic Alias
    Maximum, here 2; never 0, MQTT-3.3.2-8) and 3.3.2.3.4 (an empty topic only with an
    alias set earlier on this connection): resolving every PUBLISH as a client must gives
    the topic each message was published to. mqttd uses aliases (outbound maximum 64):
    the second message on a topic that has one comes with an empty topic name."""
    b = start()
    c = Client(b, b.ns + "sub", 5, properties=[raw.p_u16(raw.TOPIC_ALIAS_MAXIMUM, 2)])
    c.sub(b.ns + "oa/#", 1)
    pub = Client(b, b.ns + "pub", 5)
    names = [b.ns + "oa/" + t for t in ("a", "b", "c", "d")]
    sent = [names[i % 4] for i in range(12)]
    for t in sent:
        pub.pub(t, t.encode(), qos=1)
    got = c.recv_n(12)
    table = {}
    for m in got:
        a = m["props"].get(raw.TOPIC_ALIAS)
        assert a is None or 1 <= a <= 2
        assert resolve(m, table) == m["payload"].decode()
    assert [m["payload"].decode() for m in got] == sent
    if getattr(b, "is_mqttd", False):
        assert any(m["topic"] == "" for m in got)
        second_a = [m for m in got if m["payload"] == names[0].encode()][1]
        assert second_a["topic"] == "" and second_a["props"][raw.TOPIC_ALIAS] in (1, 2)


def test_no_outbound_alias_for_client_without_maximum(start):
    """5.0 3.1.2.11.5 / MQTT-3.3.2-11: a client that sends no Topic Alias Maximum (0) gets no
    Topic Alias from the server."""
    b = start()
    c = Client(b, b.ns + "sub", 5)
    c.sub(b.ns + "na/t", 1)
    pub = Client(b, b.ns + "pub", 5)
    for _ in range(3):
        pub.pub(b.ns + "na/t", b"x", qos=1)
    for m in c.recv_n(3):
        assert m["topic"] == b.ns + "na/t" and raw.TOPIC_ALIAS not in m["props"]


def test_outbound_alias_disabled_by_config(start):
    """outbound_topic_alias_maximum = 0: mqttd uses no aliases towards clients even when
    they accept them (5.0 allows the server not to use aliases, 3.3.2.3.4)."""
    b = start(settings={"outbound_topic_alias_maximum": 0}, mqttd_only=True)
    c = Client(b, b.ns + "sub", 5, properties=[raw.p_u16(raw.TOPIC_ALIAS_MAXIMUM, 10)])
    c.sub(b.ns + "nc/t", 1)
    pub = Client(b, b.ns + "pub", 5)
    for _ in range(3):
        pub.pub(b.ns + "nc/t", b"x", qos=1)
    for m in c.recv_n(3):
        assert m["topic"] == b.ns + "nc/t" and raw.TOPIC_ALIAS not in m["props"]


def test_message_expiry_in_offline_queue(start):
    """5.0 MQTT-3.3.2-5: a message whose Message Expiry Interval passed before onward
    delivery started is not delivered; MQTT-3.3.2-6: the one delivered carries the
    interval minus the time it waited; a message without the property has none."""
    b = start()
    cid, topic = b.ns + "late", b.ns + "mexp/t"
    props = [raw.p_u32(raw.SESSION_EXPIRY, 60)]
    c = Client(b, cid, 5, clean=False, properties=props)
    c.sub(topic, 1)
    c.bye()
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"short", qos=1, properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 1)])
    pub.pub(topic, b"long", qos=1, properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 60)])
    pub.pub(topic, b"forever", qos=1)
    time.sleep(2.2)
    c = Client(b, cid, 5, clean=False, properties=props)
    got = c.recv_n(2) + c.quiet(0.3)
    assert [m["payload"] for m in got] == [b"long", b"forever"]
    assert 50 <= got[0]["props"][raw.MESSAGE_EXPIRY] <= 58
    assert raw.MESSAGE_EXPIRY not in got[1]["props"]


def test_message_expiry_forwarded_live(start):
    """5.0 MQTT-3.3.2-6: a message delivered at once carries (about) the interval the
    publisher set."""
    b = start()
    topic = b.ns + "live/t"
    c = Client(b, b.ns + "sub", 5)
    c.sub(topic, 1)
    Client(b, b.ns + "pub", 5).pub(topic, b"x", qos=1, properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 30)])
    assert 29 <= c.recv()["props"][raw.MESSAGE_EXPIRY] <= 30


def test_outbound_packet_larger_than_client_maximum_is_dropped(start):
    """5.0 MQTT-3.1.2-24 (the server never sends a packet larger than the client's Maximum
    Packet Size) and MQTT-3.1.2-25 (it discards it and behaves as if sent: the QoS 1
    window is not held, later messages flow). A subscriber without the limit gets all."""
    b = start()
    topic = b.ns + "mps/t"
    small = Client(b, b.ns + "small", 5, properties=[raw.p_u32(raw.MAXIMUM_PACKET_SIZE, 128),
                                                     raw.p_u16(raw.RECEIVE_MAXIMUM, 1)])
    small.sub(topic, 1)
    big = Client(b, b.ns + "big", 5)
    big.sub(topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"a" * 10, qos=1)
    pub.pub(topic, b"B" * 300, qos=1)
    pub.pub(topic, b"c" * 10, qos=1)
    assert [m["payload"] for m in big.recv_n(3)] == [b"a" * 10, b"B" * 300, b"c" * 10]
    got = small.recv_n(2) + small.quiet(0.4)
    assert [m["payload"] for m in got] == [b"a" * 10, b"c" * 10]


def test_inbound_packet_too_large_disconnect_0x95(start):
    """5.0 3.2.2.3.6 and 4.13: a PUBLISH larger than the server's Maximum Packet Size is
    answered with DISCONNECT 0x95 (Packet too large) and the connection closed; the
    message is not delivered."""
    b = start(settings={"max_packet_size": 512})
    topic = b.ns + "big/t"
    sub = Client(b, b.ns + "sub", 5)
    sub.sub(topic, 1)
    c = Client(b, b.ns + "c", 5)
    assert c.props.get(raw.MAXIMUM_PACKET_SIZE) == 512
    c.send(raw.publish(topic, b"x" * 600, qos=1, packet_id=1, version=5))
    assert c.disconnected() == (0x95, True)
    assert sub.quiet(0.3) == []


def test_publish_properties_forwarded_unchanged(start):
    """5.0 MQTT-3.3.2-4 (Payload Format Indicator), MQTT-3.3.2-20 (Content Type),
    MQTT-3.3.2-15 (Response Topic), MQTT-3.3.2-16 (Correlation Data), MQTT-3.3.2-17 and
    -18 (User Properties, in order) reach the subscriber unaltered."""
    b = start()
    topic = b.ns + "props/t"
    c = Client(b, b.ns + "sub", 5)
    c.sub(topic, 2)
    props = [raw.p_byte(raw.PAYLOAD_FORMAT, 1), raw.p_str(raw.CONTENT_TYPE, "application/json; v=1"),
             raw.p_str(raw.RESPONSE_TOPIC, b.ns + "reply/to"), raw.p_bin(raw.CORRELATION_DATA, b"\x00\x01\xfecorr"),
             raw.p_user("b", "2"), raw.p_user("a", "1"), raw.p_user("b", "3"), raw.p_user("ünï", "cødé")]
    Client(b, b.ns + "pub", 5).pub(topic, '{"k": "ü"}'.encode(), qos=2, properties=props)
    m = c.recv()
    p = m["props"]
    assert m["payload"] == '{"k": "ü"}'.encode()
    assert p[raw.PAYLOAD_FORMAT] == 1
    assert p[raw.CONTENT_TYPE] == "application/json; v=1"
    assert p[raw.RESPONSE_TOPIC] == b.ns + "reply/to"
    assert p[raw.CORRELATION_DATA] == b"\x00\x01\xfecorr"
    assert p[raw.USER_PROPERTY] == [("b", "2"), ("a", "1"), ("b", "3"), ("ünï", "cødé")]


def test_request_problem_information_zero(start):
    """5.0 MQTT-3.1.2-29: with Request Problem Information 0 the server sends no Reason
    String or User Property on packets other than PUBLISH, CONNACK and DISCONNECT: here
    a PUBACK 0x10 (no subscribers, if the server says so), UNSUBACK 0x11 and SUBACK."""
    b = start()
    c = Client(b, b.ns + "c", 5, properties=[raw.p_byte(raw.REQUEST_PROBLEM_INFO, 0)])
    c.send(raw.publish(b.ns + "nobody/here", b"x", qos=1, packet_id=5, version=5))
    _, body = c.wait(raw.PUBACK)
    pid, reason, props = raw.parse_pub_response(body, 5)
    assert pid == 5 and reason in (0x00, 0x10)
    assert raw.REASON_STRING not in props and raw.USER_PROPERTY not in props
    c.send(raw.unsubscribe(6, [b.ns + "never"], version=5))
    _, body = c.wait(raw.UNSUBACK)
    pid, codes, props = raw.parse_sub_ack(body, 5)
    assert (pid, codes) == (6, [0x11]) and props == {}
    c.send(raw.subscribe(7, [(b.ns + "x", 1)], version=5))
    _, body = c.wait(raw.SUBACK)
    assert raw.parse_sub_ack(body, 5) == (7, [1], {})


def test_server_keep_alive(start):
    """5.0 3.2.2.3.14 and MQTT-3.2.2-21: with max_keep_alive = 2 a client asking for 60 (or
    0) gets Server Keep Alive 2 in CONNACK and the server holds it to it: silent, it is
    disconnected (0x8D Keep Alive timeout) within 1.5 x 2 s, as MQTT-3.1.2-22 says."""
    b = start(settings={"max_keep_alive": 2})
    for asked in (60, 0):
        c = Client(b, b.ns + "ka%d" % asked, 5, keepalive=asked)
        assert c.props.get(raw.SERVER_KEEP_ALIVE) == 2
    c = Client(b, b.ns + "sleeper", 5, keepalive=60)
    started = time.monotonic()
    assert c.disconnected(timeout=5) == (0x8D, True)
    assert time.monotonic() - started >= 2.0  # not before 1.5 x the keep-alive in force


def test_receive_maximum_advertised_and_enforced(start):
    """max_inflight = 3: CONNACK Receive Maximum 3 (3.2.2.3.3); a client with more than 3 QoS
    2 messages unacknowledged (no PUBREL) breaks MQTT-3.3.4-7 and gets DISCONNECT 0x93
    (Receive Maximum exceeded, MQTT-3.3.4-8 / 3.2.2.3.3)."""
    b = start(settings={"max_inflight": 3})
    c = Client(b, b.ns + "c", 5)
    assert c.props.get(raw.RECEIVE_MAXIMUM) == 3
    for pid in (1, 2, 3):
        c.send(raw.publish(b.ns + "rmx", b"x", qos=2, packet_id=pid, version=5))
        c.wait(raw.PUBREC)
    c.send(raw.publish(b.ns + "rmx", b"x", qos=2, packet_id=4, version=5))
    assert c.disconnected() == (0x93, True)


def test_authentication_method_refused(start):
    """5.0 3.1.2.11.9 / 4.12: the server supports no enhanced authentication, so a CONNECT
    with an Authentication Method is refused with CONNACK 0x8C (Bad authentication
    method; 0x87 would also be allowed, mqttd and Mosquitto send 0x8C) and the
    connection closed (MQTT-3.2.2-7)."""
    b = start()
    c = Client(b, b.ns + "auth", 5, expect=None,
               properties=[raw.p_str(raw.AUTH_METHOD, "SCRAM-SHA-256"), raw.p_bin(raw.AUTH_DATA, b"n,,n=user")])
    assert c.code == 0x8C
    assert c.closed()


def test_auth_packet_without_method_is_protocol_error(start):
    """5.0 MQTT-3.15.? / 4.12: AUTH from a client that gave no Authentication Method in
    CONNECT is a protocol error: DISCONNECT (0x82 Protocol error or 0x8C) and close."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.send(raw.auth(0x19, [raw.p_str(raw.AUTH_METHOD, "SCRAM-SHA-256")]))
    reason, closed = c.disconnected()
    assert closed and reason in (None, 0x82, 0x8C)


def test_no_matching_subscribers_reason(start):
    """5.0 3.4.2.1: PUBACK 0x10 (No matching subscribers) is allowed where nobody matched;
    0x00 otherwise. With a subscriber present the reason is 0x00."""
    b = start()
    topic = b.ns + "nms/t"
    pub = Client(b, b.ns + "pub", 5)
    assert pub.pub(topic, b"x", qos=1) in (0x00, 0x10)
    sub = Client(b, b.ns + "sub", 5)
    sub.sub(topic, 1)
    assert pub.pub(topic, b"y", qos=1) == 0x00
    assert pub.pub(topic, b"z", qos=2) == 0x00
    if getattr(b, "is_mqttd", False):
        assert pub.pub(b.ns + "nobody", b"x", qos=1) == 0x10


def test_message_expiry_zero_reaches_connected_subscribers_only(start):
    """5.0 MQTT-3.3.2-5/-6 with an interval of 0: onward delivery to a subscriber that is
    connected starts at once, so it gets the message (interval 0); an offline persistent
    session does not get a copy queued, and it is not kept as retained (Mosquitto and EMQX
    behave the same)."""
    b = start(workers=4)
    topic = b.ns + "zero/t"
    live = [Client(b, b.ns + "live%d" % i, 5) for i in range(4)]  # spread over workers
    for c in live:
        c.sub(topic, 1)
    away = Client(b, b.ns + "away", 5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 60)])
    away.sub(topic, 1)
    away.bye()
    Client(b, b.ns + "pub", 5).pub(topic, b"now or never", qos=1, retain=True,
                                   properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 0)])
    for c in live:
        m = c.recv()
        assert m["payload"] == b"now or never"
        assert m["props"][raw.MESSAGE_EXPIRY] == 0
    away = Client(b, b.ns + "away", 5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 60)])
    assert away.present is True
    assert away.quiet(0.5) == []
    late = Client(b, b.ns + "late", 5)
    late.sub(topic, 1)
    assert late.quiet(0.5) == []
