"""Session layer, subscriptions: SUBACK / UNSUBACK reason codes per filter, replacing a
subscription, overlapping subscriptions, subscription identifiers, no-local,
retain-as-published, retain handling 0/1/2 and shared subscriptions.

Statement ids: "3.1.1" = MQTT 3.1.1, "5.0" = MQTT 5.0 (OASIS)."""

import collections

import pytest

import mqtt_raw as raw
from mqtt_raw import Client

NO_LOCAL, RETAIN_AS_PUBLISHED = 0x04, 0x08


def rh(n):
    """Subscription option bits for Retain Handling n (5.0 3.8.3.1)."""
    return n << 4


@pytest.mark.parametrize("version", [4, 5])
def test_suback_has_one_code_per_filter_in_order(start, version):
    """3.1.1 MQTT-3.8.4-1, -2 (SUBACK, same packet id), MQTT-3.8.4-5 / 5.0 MQTT-3.8.4-6
    (one code per filter), 3.1.1 MQTT-3.9.3-1 / 5.0 MQTT-3.9.3-1 (same order)."""
    b = start()
    c = Client(b, b.ns + "c", version)
    codes = c.sub([(b.ns + "a/b", 2), (b.ns + "a/+", 0), (b.ns + "a/#", 1), ("+/" + b.ns, 2)])
    assert codes == [2, 0, 1, 2]


def test_v5_invalid_filter_refused(start):
    """5.0 MQTT-4.7.1-1: '#' must be last; "a/#/b" may not be subscribed. The server
    either refuses that filter alone (SUBACK 0x8F Topic Filter invalid, 0x80 also being a
    failure, 3.9.3) granting the valid one, or treats the packet as malformed / a protocol
    error (4.13: DISCONNECT 0x81, 0x82 or 0x8F, then close). Never a granted QoS."""
    b = start()
    topic = b.ns + "ok/1"
    c = Client(b, b.ns + "c", 5)
    c.send(raw.subscribe(7, [(topic, 1), (b.ns + "a/#/b", 1)], version=5))
    t, f, body = c.read()
    if t == raw.SUBACK:
        pid, codes, _ = raw.parse_sub_ack(body, 5)
        assert (pid, codes[0]) == (7, 1)
        assert codes[1] in (0x80, 0x8F), codes
        Client(b, b.ns + "pub", 5).pub(topic, b"valid one works", qos=1)
        assert c.recv()["payload"] == b"valid one works"
    else:
        assert t == raw.DISCONNECT, (t, body)
        assert raw.parse_disconnect(body)[0] in (0x81, 0x82, 0x8F)
        assert c.closed()


def test_311_invalid_filter_refused(start):
    """3.1.1 MQTT-4.7.1-2 ('#' last): the server either answers the filter with 0x80
    (Failure, 3.9.3) or closes the connection (4.8, protocol violation)."""
    b = start()
    c = Client(b, b.ns + "c", 4)
    c.send(raw.subscribe(7, [(b.ns + "ok/1", 1), (b.ns + "a/b#", 0)], version=4))
    try:
        t, f, body = c.read()
    except (EOFError, ConnectionResetError):
        return
    assert t == raw.SUBACK
    assert raw.parse_sub_ack(body, 4)[:2] == (7, [1, 0x80])


def test_v5_unsuback_codes_per_filter(start):
    """5.0 MQTT-3.10.4-4, -5 (UNSUBACK with the packet id), MQTT-3.11.3-1 (a code per filter,
    in order): 0x00 for a removed subscription, 0x11 No subscription existed; after it
    the removed subscription no longer delivers (MQTT-3.10.4-1, -2)."""
    b = start()
    topic = b.ns + "u/t"
    c = Client(b, b.ns + "c", 5)
    c.sub(topic, 1)
    assert c.unsub([topic, b.ns + "never/subscribed", topic]) == [0x00, 0x11, 0x11]
    Client(b, b.ns + "pub", 5).pub(topic, b"gone", qos=1)
    assert c.quiet(0.4) == []


def test_311_unsuback_and_delivery_stops(start):
    """3.1.1 MQTT-3.10.4-4, -5: UNSUBACK (remaining length 2: the packet id only, 3.11.1)
    also when nothing matched; 3.1.1 MQTT-3.10.4-2: no new messages after it."""
    b = start()
    topic = b.ns + "u311/t"
    c = Client(b, b.ns + "c", 4)
    c.sub(topic, 1)
    c.send(raw.unsubscribe(0x0102, [topic, b.ns + "other"], version=4))
    f, body = c.wait(raw.UNSUBACK)
    assert body == b"\x01\x02"
    Client(b, b.ns + "pub", 4).pub(topic, b"gone", qos=1)
    assert c.quiet(0.4) == []


@pytest.mark.parametrize("version", [4, 5])
def test_resubscribe_replaces_the_subscription(start, version):
    """3.1.1 MQTT-3.8.4-3 / 5.0 MQTT-3.8.4-3: an identical filter replaces the existing
    subscription (new QoS); one message, not two."""
    b = start()
    topic = b.ns + "re/t"
    c = Client(b, b.ns + "c", version)
    assert c.sub(topic, 0) == [0]
    assert c.sub(topic, 2) == [2]
    Client(b, b.ns + "pub", version).pub(topic, b"x", qos=2)
    got = [c.recv()] + c.quiet(0.4)
    assert [(m["payload"], m["qos"]) for m in got] == [(b"x", 2)]


def test_overlapping_subscriptions_max_qos_and_all_identifiers(start):
    """5.0 MQTT-3.3.4-2: with overlapping subscriptions the message is delivered respecting
    the maximum QoS of all matching ones; MQTT-3.3.4-3, -4: a single copy carries the
    Subscription Identifiers of all of them; MQTT-3.3.4-5: if the server sends one copy
    per subscription (allowed), each carries its own. mqttd sends one copy."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.sub(b.ns + "ov/+", 0, properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 11)])
    c.sub(b.ns + "ov/#", 2, properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 22)])
    c.sub(b.ns + "ov/a", 1, properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 33)])
    Client(b, b.ns + "pub", 5).pub(b.ns + "ov/a", b"x", qos=2)
    got = [c.recv()] + c.quiet(0.4)
    assert all(m["payload"] == b"x" for m in got)
    assert max(m["qos"] for m in got) == 2
    if len(got) == 1:
        assert sorted(got[0]["props"].get(raw.SUBSCRIPTION_ID, [])) == [11, 22, 33]
    else:
        assert len(got) == 3
        assert sorted(tuple(m["props"].get(raw.SUBSCRIPTION_ID, [])) for m in got) == [(11,), (22,), (33,)]
    if getattr(b, "is_mqttd", False):
        assert len(got) == 1


def test_311_overlapping_subscriptions_max_qos(start):
    """3.1.1 MQTT-3.3.5-1: overlapping subscriptions -> delivered respecting the maximum QoS
    of all matching subscriptions (further copies are allowed). mqttd sends one copy."""
    b = start()
    c = Client(b, b.ns + "c", 4)
    c.sub([(b.ns + "ov/+", 0), (b.ns + "ov/#", 1)])
    Client(b, b.ns + "pub", 4).pub(b.ns + "ov/a", b"x", qos=1)
    got = [c.recv()] + c.quiet(0.4)
    assert max(m["qos"] for m in got) == 1
    if getattr(b, "is_mqttd", False):
        assert len(got) == 1


def test_subscription_identifier_sent_with_each_match(start):
    """5.0 3.8.2.1.2 and MQTT-3.3.4-3: the identifier given with SUBSCRIBE comes back on the
    messages it matches; a subscription made without one gets none."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.sub(b.ns + "sid/with", 1, properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 268435455)])
    c.sub(b.ns + "sid/without", 1)
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(b.ns + "sid/with", b"1", qos=1)
    pub.pub(b.ns + "sid/without", b"2", qos=1)
    m1, m2 = c.recv_n(2)
    assert m1["props"].get(raw.SUBSCRIPTION_ID) == [268435455]
    assert raw.SUBSCRIPTION_ID not in m2["props"]


def test_no_local(start):
    """5.0 MQTT-3.8.3-3: with No Local the client's own messages are not forwarded to it;
    other clients' messages are."""
    b = start()
    topic = b.ns + "nl/t"
    c = Client(b, b.ns + "c", 5)
    c.sub([(topic, 1 | NO_LOCAL)])
    c.pub(topic, b"mine", qos=1)
    Client(b, b.ns + "other", 5).pub(topic, b"theirs", qos=1)
    got = [c.recv()] + c.quiet(0.3)
    assert [m["payload"] for m in got] == [b"theirs"]


def test_no_local_on_shared_subscription_is_protocol_error(start):
    """5.0 MQTT-3.8.3-4: No Local 1 on a Shared Subscription is a Protocol Error: the server
    closes the connection (DISCONNECT 0x82 first, 4.13)."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.send(raw.subscribe(1, [("$share/g/" + b.ns + "t", 1 | NO_LOCAL)], version=5))
    reason, closed = c.disconnected()
    assert closed and reason in (None, 0x82)


def test_retain_as_published(start):
    """5.0 MQTT-3.3.1-12 (RAP 0: RETAIN cleared on forwarding to an established
    subscription) and MQTT-3.3.1-13 (RAP 1: RETAIN as published); 3.1.1 MQTT-3.3.1-9
    (always 0 on an established subscription)."""
    b = start()
    topic = b.ns + "rap/t"
    keep = Client(b, b.ns + "keep", 5)
    keep.sub([(topic, 1 | RETAIN_AS_PUBLISHED)])
    clear = Client(b, b.ns + "clear", 5)
    clear.sub([(topic, 1)])
    old = Client(b, b.ns + "old", 4)
    old.sub(topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"retained", qos=1, retain=True)
    pub.pub(topic, b"plain", qos=1, retain=False)
    assert [(m["payload"], m["retain"]) for m in keep.recv_n(2)] == [(b"retained", True), (b"plain", False)]
    assert [(m["payload"], m["retain"]) for m in clear.recv_n(2)] == [(b"retained", False), (b"plain", False)]
    assert [(m["payload"], m["retain"]) for m in old.recv_n(2)] == [(b"retained", False), (b"plain", False)]


def test_retain_handling_0_1_2(start):
    """5.0 MQTT-3.3.1-9 (RH 0: retained messages sent on every SUBSCRIBE), MQTT-3.3.1-10
    (RH 1: only if the subscription did not exist), MQTT-3.3.1-11 (RH 2: never)."""
    b = start()
    topic = b.ns + "rh/t"
    Client(b, b.ns + "pub", 5).pub(topic, b"kept", qos=1, retain=True)
    c0 = Client(b, b.ns + "c0", 5)
    for _ in range(2):
        c0.sub([(topic, 1 | rh(0))])
        m = c0.recv()
        assert (m["payload"], m["retain"]) == (b"kept", True)
    c1 = Client(b, b.ns + "c1", 5)
    c1.sub([(topic, 1 | rh(1))])
    assert c1.recv()["payload"] == b"kept"
    c1.sub([(topic, 1 | rh(1))])  # exists already: nothing
    assert c1.quiet(0.4) == []
    c2 = Client(b, b.ns + "c2", 5)
    c2.sub([(topic, 1 | rh(2))])
    assert c2.quiet(0.4) == []
    assert c0.quiet(0.1) == []


def test_shared_subscription_each_message_to_one_member(start):
    """5.0 4.8.2: each message matching a shared subscription goes to exactly one session
    of the group ("sent to only one of the Sessions"), while a non-shared subscriber of the same
    topic gets every message. Four workers and four members: members on different
    workers. Every member gets a share (the distribution is the server's choice; a
    round-robin or random spread gives each of four members some of 40 messages)."""
    b = start(workers=4)
    topic = b.ns + "sh/t"
    members = [Client(b, b.ns + "m%d" % i, 5) for i in range(4)]
    for m in members:
        assert m.sub("$share/grp/" + topic, 1) == [1]
    plain = Client(b, b.ns + "plain", 5)
    plain.sub(topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    n = 40
    for i in range(n):
        pub.pub(topic, b"%02d" % i, qos=1)
    assert sorted(m["payload"] for m in plain.recv_n(n)) == [b"%02d" % i for i in range(n)]
    per_member = []
    total = []
    deadline_msgs = []
    for m in members:
        got = [x["payload"] for x in m.quiet(0.8)]
        per_member.append(len(got))
        total += got
        deadline_msgs.append(got)
    counts = collections.Counter(total)
    assert sorted(counts) == [b"%02d" % i for i in range(n)], per_member
    assert set(counts.values()) == {1}, "duplicates: %r" % per_member
    assert all(k > 0 for k in per_member), per_member
    for got in deadline_msgs:  # each member sees its share in publication order
        assert got == sorted(got)


def test_two_shared_groups_each_get_every_message(start):
    """5.0 4.8.2: each group is independent: a message goes to one member of every group."""
    b = start(workers=4)
    topic = b.ns + "sh2/t"
    ga = [Client(b, b.ns + "a%d" % i, 5) for i in range(2)]
    gb = [Client(b, b.ns + "b%d" % i, 5) for i in range(2)]
    for c in ga:
        c.sub("$share/A/" + topic, 1)
    for c in gb:
        c.sub("$share/B/" + topic, 1)
    pub = Client(b, b.ns + "pub", 5)
    for i in range(10):
        pub.pub(topic, b"%d" % i, qos=1)
    for group in (ga, gb):
        got = []
        for c in group:
            got += [m["payload"] for m in c.quiet(0.6)]
        assert sorted(got) == [b"%d" % i for i in range(10)]


def test_shared_subscription_gets_no_retained_on_subscribe(start):
    """5.0 3.3.1.3: retained messages are sent "when a new Non-shared Subscription is made"
    (MQTT-3.3.1-9..11 apply to those); a shared subscription gets none on SUBSCRIBE, and
    the same session's non-shared subscription then does."""
    b = start()
    topic = b.ns + "shr/t"
    Client(b, b.ns + "pub", 5).pub(topic, b"kept", qos=1, retain=True)
    c = Client(b, b.ns + "c", 5)
    assert c.sub("$share/g/" + topic, 1) == [1]
    assert c.quiet(0.5) == []
    c.sub(topic, 1)
    assert c.recv()["payload"] == b"kept"


def test_shared_member_leaving_hands_over(start):
    """5.0 4.8.2: when a member unsubscribes the group's messages go to the remaining
    members; nothing is lost at QoS 1."""
    b = start(workers=4)
    topic = b.ns + "shl/t"
    a, c = Client(b, b.ns + "a", 5), Client(b, b.ns + "c", 5)
    a.sub("$share/g/" + topic, 1)
    c.sub("$share/g/" + topic, 1)
    assert a.unsub("$share/g/" + topic) == [0]
    pub = Client(b, b.ns + "pub", 5)
    for i in range(6):
        pub.pub(topic, b"%d" % i, qos=1)
    assert [m["payload"] for m in c.recv_n(6)] == [b"%d" % i for i in range(6)]
    assert a.quiet(0.3) == []
