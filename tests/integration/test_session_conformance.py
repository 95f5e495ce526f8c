"""Session layer, conformance corners: the cases an MQTT 3.1.1 / 5.0 conformance suite
probes beyond the everyday flows. '$' topics and client publishes to $SYS, Reason
Strings and Request Problem Information, DISCONNECT with a Session Expiry Interval,
invalid subscription identifiers and shared-subscription filters, Receive Maximum 0,
packet-identifier exhaustion with a 65,535-message window, overlapping subscriptions with
No Local, retained QoS 2 to lower subscriptions, duplicate PUBREC, takeovers across
workers with QoS 1/2 flows half done in both directions, wills on clean-start takeovers,
the offline queue's drop policy and its counter in /metrics.

Statement ids: "3.1.1" = MQTT 3.1.1, "5.0" = MQTT 5.0 (OASIS). MQTTD_TEST_AGAINST=host:port
runs the tests that need no broker settings against another broker."""

import socket
import struct
import time
import urllib.request

import pytest

import mqtt_raw as raw
from conftest import free_port
from mqtt_raw import Client, persistent

NO_LOCAL = 0x04


def fast_read_packets(sock, want, timeout):
    """Reads until `want` whole packets arrived (or the timeout); returns a list of
    (type, flags, body). Parses with an index instead of re-slicing, for tens of
    thousands of packets."""
    data = bytearray()
    out = []
    pos = 0
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        while True:
            if len(data) - pos < 2:
                break
            mult, n, i = 1, 0, pos + 1
            complete = False
            while i < len(data):
                b = data[i]
                n += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    complete = True
                    break
            if not complete or len(data) < i + n:
                break
            out.append((data[pos] >> 4, data[pos] & 0x0F, bytes(data[i:i + n])))
            pos = i + n
        if pos > (1 << 20):
            del data[:pos]
            pos = 0
    return out


# --- '$' topics ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_client_publish_to_sys_is_not_routed_or_retained(start, version):
    """$SYS is the broker's: a client's PUBLISH to a $SYS topic is neither forwarded nor
    retained (Mosquitto denies it too). 3.1.1 MQTT-3.3.5-2: the server cannot tell a
    3.1.1 client, so it acknowledges positively and drops the message; 5.0: PUBACK /
    PUBREC 0x87 (Not authorized, 3.4.2.1). The connection stays open either way."""
    b = start()
    topic = "$SYS/" + b.ns + "fake/version"
    watcher = Client(b, b.ns + "w", version)
    assert watcher.sub("$SYS/" + b.ns + "fake/#", 1) == [1]
    c = Client(b, b.ns + "c", version)
    c.pub(topic, b"qos0", qos=0, retain=True)
    expected = 0x87 if version == 5 else 0
    assert c.pub(topic, b"qos1", qos=1, retain=True) == expected
    assert c.pub(topic, b"qos2", qos=2, retain=True) == expected
    c.ping()
    assert watcher.quiet(0.5) == []
    late = Client(b, b.ns + "late", version)
    late.sub("$SYS/" + b.ns + "fake/#", 1)
    assert late.quiet(0.5) == []


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_sys_topic_never_published(start, version):
    """A will is a publication on the client's behalf: one on a $SYS topic is accepted with
    the CONNECT but, like a PUBLISH there, never published (Mosquitto does the same)."""
    b = start()
    topic = "$SYS/" + b.ns + "will"
    w = Client(b, b.ns + "w", version)
    w.sub(topic, 1)
    c = Client(b, b.ns + "c", version, will=(topic, b"x", 1, False))
    c.close()  # no DISCONNECT: a will would go out now
    assert w.quiet(0.6) == []


@pytest.mark.parametrize("version", [4, 5])
def test_other_dollar_topics_work_but_not_for_leading_wildcards(start, version):
    """3.1.1 / 5.0 MQTT-4.7.2-1: a topic starting with '$' (other than $SYS) is published
    and delivered like any other, to filters that name its first level, never to ones
    starting with '#' or '+'."""
    b = start()
    topic = "$" + b.ns + "app/t"
    exact = Client(b, b.ns + "exact", version)
    exact.sub("$" + b.ns + "app/#", 1)
    wild = Client(b, b.ns + "wild", version)
    wild.sub([("#", 1), ("+/app/t", 1)])
    assert Client(b, b.ns + "p", version).pub(topic, b"dollar", qos=1) in (0, 0x10)
    assert exact.recv()["payload"] == b"dollar"
    assert [m for m in wild.quiet(0.5) if m["topic"] == topic] == []


def test_311_subscribe_to_sys_hash(start):
    """A 3.1.1 client may subscribe to '$SYS/#' (granted) and gets the broker's retained
    $SYS values with the RETAIN flag (3.1.1 MQTT-3.3.1-8)."""
    b = start(settings={"sys_interval": 1})
    c = Client(b, b.ns + "c", 4)
    assert c.sub("$SYS/#", 0) == [0]
    m = c.recv(timeout=5)
    assert m["topic"].startswith("$SYS/") and m["qos"] == 0


# --- Reason Strings and Request Problem Information ---------------------------------


def test_reason_string_on_server_disconnect(start):
    """5.0 3.14.2.2.2: a server DISCONNECT may carry a Reason String; mqttd says what went
    wrong (here a Topic Alias above the maximum, 0x94, MQTT-3.3.2-9). It is allowed on
    DISCONNECT even with Request Problem Information 0 (MQTT-3.1.2-29)."""
    b = start(mqttd_only=True)
    for rpi in (None, 0):
        props = [] if rpi is None else [raw.p_byte(raw.REQUEST_PROBLEM_INFO, rpi)]
        c = Client(b, b.ns + "c", 5, properties=props)
        c.send(raw.publish(b.ns + "t", b"x", version=5, properties=[raw.p_u16(raw.TOPIC_ALIAS, 1000)]))
        _, body = c.wait(raw.DISCONNECT)
        reason, pr = raw.parse_disconnect(body)
        assert reason == 0x94
        assert isinstance(pr.get(raw.REASON_STRING), str) and pr[raw.REASON_STRING]
        assert c.closed()


def test_reason_string_on_connack_refusal(start):
    """5.0 3.2.2.3.7: a refusing CONNACK may carry a Reason String (allowed whatever the
    Request Problem Information, MQTT-3.1.2-29)."""
    b = start(mqttd_only=True)
    c = Client(b, b.ns + "c", 5, expect=None, properties=[raw.p_str(raw.AUTH_METHOD, "SCRAM-SHA-1")])
    assert c.code == 0x8C
    assert isinstance(c.props.get(raw.REASON_STRING), str) and c.props[raw.REASON_STRING]


def test_reason_string_on_puback_only_when_problem_information_requested(start):
    """5.0 MQTT-3.1.2-29: with Request Problem Information 0 no Reason String on a PUBACK;
    with 1 (the default) mqttd explains a refusal (0x99 Payload format invalid). 3.4.2.2:
    never when it would make the PUBACK larger than the client's Maximum Packet Size."""
    b = start(mqttd_only=True)
    bad = b"\xff\xfe"
    pfi = [raw.p_byte(raw.PAYLOAD_FORMAT, 1)]
    c = Client(b, b.ns + "asks", 5)
    c.send(raw.publish(b.ns + "t", bad, qos=1, packet_id=3, version=5, properties=pfi))
    _, body = c.wait(raw.PUBACK)
    pid, reason, pr = raw.parse_pub_response(body, 5)
    assert (pid, reason) == (3, 0x99)
    assert isinstance(pr.get(raw.REASON_STRING), str) and pr[raw.REASON_STRING]
    c = Client(b, b.ns + "quiet", 5, properties=[raw.p_byte(raw.REQUEST_PROBLEM_INFO, 0)])
    c.send(raw.publish(b.ns + "t", bad, qos=2, packet_id=4, version=5, properties=pfi))
    _, body = c.wait(raw.PUBREC)
    assert raw.parse_pub_response(body, 5) == (4, 0x99, {})
    c = Client(b, b.ns + "small", 5, properties=[raw.p_u32(raw.MAXIMUM_PACKET_SIZE, 16)])
    c.send(raw.publish(b.ns + "t", bad, qos=1, packet_id=5, version=5, properties=pfi))
    _, body = c.wait(raw.PUBACK)
    assert len(body) + 2 <= 16
    assert raw.parse_pub_response(body, 5)[:2] == (5, 0x99)


# --- DISCONNECT, Session Expiry ---------------------------------------------------------


def test_disconnect_expiry_allowed_when_connect_asked_nonzero_but_server_capped(start):
    """5.0 MQTT-3.14.2-2 forbids a non-zero Session Expiry in DISCONNECT only when the
    CONNECT's was zero. Here the CONNECT asked 100 and the server capped it to 0
    (max_session_expiry = 0, told in CONNACK): a DISCONNECT 0x00 with 50 is valid, ends the
    connection normally, and so discards the will (MQTT-3.14.4-3)."""
    b = start(settings={"max_session_expiry": 0})
    topic = b.ns + "will/t"
    w = Client(b, b.ns + "w", 5)
    w.sub(topic, 1)
    c = Client(b, b.ns + "c", 5, properties=[raw.p_u32(raw.SESSION_EXPIRY, 100)],
               will=(topic, b"should not be sent", 1, False))
    assert c.props.get(raw.SESSION_EXPIRY) == 0
    c.send(raw.disconnect(5, 0, [raw.p_u32(raw.SESSION_EXPIRY, 50)]))
    try:
        t, _, body = c.read(timeout=1.0)
        pytest.fail("server answered DISCONNECT with packet type %d %r" % (t, body))
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    assert w.quiet(0.6) == []


def test_empty_client_id_with_clean_start_0_keeps_assigned_session(start):
    """5.0 MQTT-3.1.3-6, -7: an empty Client Identifier gets an assigned one in CONNACK,
    with Clean Start 0 as well; the session it creates lives on under that identifier
    (Session Expiry 300) and a later connection with it resumes it (MQTT-3.2.2-3)."""
    b = start()
    c = Client(b, "", 5, **persistent(5))
    assigned = c.props.get(raw.ASSIGNED_CLIENT_ID)
    assert assigned
    topic = b.ns + "assigned/t"
    c.sub(topic, 1)
    c.bye()
    Client(b, b.ns + "p", 5).pub(topic, b"kept", qos=1)
    c = Client(b, assigned, 5, **persistent(5))
    assert c.present is True
    assert c.recv()["payload"] == b"kept"


def test_will_payload_not_matching_its_format_indicator(start):
    """5.0 3.1.3.2.3 / 3.2.2.2: a Will Payload that is not UTF-8 although its Payload Format
    Indicator is 1 may be refused with CONNACK 0x99 (Payload format invalid); mqttd checks
    it as it checks a PUBLISH's payload. Accepting it is allowed too (elsewhere)."""
    b = start(mqttd_only=True)
    will = (b.ns + "w", b"\xff\xfe", 1, False, [raw.p_byte(raw.PAYLOAD_FORMAT, 1)])
    c = Client(b, b.ns + "c", 5, expect=None, will=will)
    assert c.code == 0x99
    assert c.closed()


@pytest.mark.parametrize("version", [4, 5])
def test_keep_alive_zero_turns_keep_alive_off(start, version):
    """3.1.1 3.1.2.10 / 5.0 3.1.2.10: Keep Alive 0 turns the mechanism off; with no
    max_keep_alive configured the server keeps it so (no Server Keep Alive in the 5.0
    CONNACK, MQTT-3.2.2-22) and does not close an idle connection."""
    b = start()
    c = Client(b, b.ns + "idle", version, keepalive=0)
    if getattr(b, "is_mqttd", False):
        assert raw.SERVER_KEEP_ALIVE not in c.props  # Mosquitto answers 65535, also allowed
    time.sleep(2.5)
    c.ping()


def test_unknown_packet_ids_in_qos2_acknowledgements(start):
    """5.0 3.6.2.1 / 3.7.2.1: PUBREC for a packet id the server has not in flight is answered
    PUBREL 0x92 (Packet Identifier not found), PUBREL for one it holds no QoS 2 message under
    PUBCOMP 0x92; the connection goes on. 3.1.1 (no reason codes): PUBREL / PUBCOMP with
    that id. (Mosquitto answers both with 0x00, which recovery makes acceptable, 3.6.2.1.)"""
    b = start()
    mqttd = getattr(b, "is_mqttd", False)
    for version in (5, 4):
        want = (0x92,) if version == 5 else (0,)
        c = Client(b, b.ns + "c%d" % version, version)
        c.send(raw.ack(raw.PUBREC, 321, version))
        f, body = c.wait(raw.PUBREL)
        assert f == 2
        pid, reason, _ = raw.parse_pub_response(body, version)
        assert pid == 321 and reason in (want if mqttd else want + (0,))
        c.send(raw.ack(raw.PUBREL, 322, version))
        _, body = c.wait(raw.PUBCOMP)
        pid, reason, _ = raw.parse_pub_response(body, version)
        assert pid == 322 and reason in (want if mqttd else want + (0,))
        c.ping()


# --- CONNECT / SUBSCRIBE validation -----------------------------------------------------


def test_receive_maximum_zero_is_a_protocol_error(start):
    """5.0 3.1.2.11.3: Receive Maximum 0 is a Protocol Error: CONNACK 0x82 (or 0x81) and
    close (MQTT-3.2.2-7), or a close without CONNACK (4.13.1; Mosquitto)."""
    b = start()
    try:
        c = Client(b, b.ns + "c", 5, expect=None, properties=[raw.p_u16(raw.RECEIVE_MAXIMUM, 0)])
    except (EOFError, ConnectionResetError):
        return  # closed without CONNACK: allowed too (4.13)
    assert c.code in (0x81, 0x82)
    assert c.closed()


@pytest.mark.parametrize("encoded,reasons", [
    (b"\x00", (0x82, 0x81)),              # 0: Protocol Error (3.8.2.1.2; Mosquitto: 0x81)
    (b"\xff\xff\xff\xff\x01", (0x81,)),    # five bytes: beyond 268,435,455, malformed (1.5.5)
])
def test_invalid_subscription_identifier(start, encoded, reasons):
    """5.0 3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error; one above
    268,435,455 cannot be encoded (a Variable Byte Integer has at most four bytes,
    MQTT-1.5.5-1), so the packet is malformed. Either way DISCONNECT and close, no SUBACK."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.send(raw.subscribe(1, [(b.ns + "t", 1)], version=5, properties=[(raw.SUBSCRIPTION_ID, encoded)]))
    reason, closed = c.disconnected()
    assert closed and reason in reasons


@pytest.mark.parametrize("flt", ["$share/g+/t", "$share/g#/t", "$share/g", "$share//t", "$share/g/"])
def test_malformed_shared_subscription_filter(start, flt):
    """5.0 MQTT-4.8.2-1, -2: "$share/" needs a ShareName of at least one character without
    '/', '+' or '#', followed by '/' and a Topic Filter. A filter breaking that is never
    granted: either its SUBACK code is a failure (0x8F Topic Filter invalid, 0x80, or 0x9E)
    with the valid filter beside it granted, or the whole packet is refused with DISCONNECT
    (0x8F / 0x81 / 0x82, 4.13) and the connection closed. mqttd and EMQX disconnect."""
    b = start()
    ok = b.ns + "ok"
    c = Client(b, b.ns + "c", 5)
    c.send(raw.subscribe(9, [(ok, 1), (flt, 1)], version=5))
    t, _, body = c.read()
    if t == raw.SUBACK:
        pid, codes, _ = raw.parse_sub_ack(body, 5)
        assert pid == 9 and codes[0] == 1 and codes[1] in (0x80, 0x8F, 0x9E), codes
    else:
        assert t == raw.DISCONNECT
        assert raw.parse_disconnect(body)[0] in (0x81, 0x82, 0x8F)
        assert c.closed()


def test_shared_subscription_granted_and_unsubscribed(start):
    """5.0 4.8.2 / MQTT-3.10.4-1: "$share/<name>/<filter>" is granted, delivers, and is
    removed by an UNSUBSCRIBE of the same string (0x00, then 0x11 No subscription existed)."""
    b = start()
    flt = "$share/grp/" + b.ns + "s/#"
    c = Client(b, b.ns + "c", 5)
    assert c.sub(flt, 2) == [2]
    Client(b, b.ns + "p", 5).pub(b.ns + "s/x", b"shared", qos=1)
    assert c.recv()["payload"] == b"shared"
    assert c.unsub([flt, flt]) == [0x00, 0x11]


# --- delivery ------------------------------------------------------------------------------


def test_overlapping_subscriptions_with_no_local(start):
    """5.0 MQTT-3.8.3-3 applies per subscription: the subscriber's own message is not sent
    through its No Local subscription but is through an overlapping one without it, at that
    subscription's QoS, carrying only its identifier (MQTT-3.3.4-3). Another client's
    message goes through both: at QoS 2 (MQTT-3.3.4-2) with both identifiers; mqttd sends
    one copy (Mosquitto one per subscription, which 3.3.4 also allows)."""
    b = start()
    c = Client(b, b.ns + "c", 5)
    c.sub([(b.ns + "nl/#", 2 | NO_LOCAL)], properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 1)])
    c.sub([(b.ns + "nl/t", 1)], properties=[raw.p_varint(raw.SUBSCRIPTION_ID, 2)])
    c.pub(b.ns + "nl/t", b"mine", qos=2)
    got = [c.recv()] + c.quiet(0.4)
    assert [(m["payload"], m["qos"], m["props"].get(raw.SUBSCRIPTION_ID)) for m in got] == [(b"mine", 1, [2])]
    Client(b, b.ns + "o", 5).pub(b.ns + "nl/t", b"theirs", qos=2)
    got = [c.recv()] + c.quiet(0.4)
    assert all(m["payload"] == b"theirs" for m in got)
    assert max(m["qos"] for m in got) == 2
    assert sorted(i for m in got for i in m["props"][raw.SUBSCRIPTION_ID]) == [1, 2]
    if getattr(b, "is_mqttd", False):
        assert len(got) == 1


@pytest.mark.parametrize("version", [4, 5])
def test_retained_qos2_to_lower_subscriptions(start, version):
    """3.1.1 MQTT-3.8.4-6 / 5.0 MQTT-3.8.4-8: a retained message published at QoS 2 goes to a
    QoS 1 subscription at QoS 1 (with a packet id) and to a QoS 0 one at QoS 0 (no packet
    id, 2.2.1), with RETAIN set (3.1.1 MQTT-3.3.1-8 / 5.0 MQTT-3.3.1-9)."""
    b = start()
    topic = b.ns + "rq2/t"
    Client(b, b.ns + "p", version).pub(topic, b"kept", qos=2, retain=True)
    for granted in (1, 0):
        c = Client(b, b.ns + "s%d" % granted, version)
        assert c.sub(topic, granted) == [granted]
        m = c.recv()
        assert (m["payload"], m["qos"], m["retain"]) == (b"kept", granted, True)
        assert (m["packet_id"] is None) == (granted == 0)
    Client(b, b.ns + "p", version).pub(topic, b"", qos=0, retain=True)


@pytest.mark.parametrize("version", [4, 5])
def test_311_style_downgrade_of_qos2_live(start, version):
    """3.1.1 MQTT-3.8.4-6 / 5.0 MQTT-3.8.4-8 for a live QoS 2 message: the QoS 1 subscriber
    gets a QoS 1 PUBLISH that a PUBACK completes; the QoS 0 one a PUBLISH without packet id."""
    b = start()
    topic = b.ns + "dg/t"
    s1 = Client(b, b.ns + "s1", version, auto_ack=False)
    s1.sub(topic, 1)
    s0 = Client(b, b.ns + "s0", version)
    s0.sub(topic, 0)
    Client(b, b.ns + "p", version).pub(topic, b"two", qos=2)
    m = s1.recv()
    assert (m["qos"], m["dup"], m["retain"]) == (1, False, False) and m["packet_id"]
    s1.send(raw.ack(raw.PUBACK, m["packet_id"], version))
    m0 = s0.recv()
    assert (m0["qos"], m0["packet_id"]) == (0, None)
    s1.ping()
    assert s1.quiet(0.4) == []


def test_duplicate_pubrec_gets_pubrel_again(start):
    """5.0 4.3.3: PUBREL answers PUBREC; a PUBREC repeated while the server waits for PUBCOMP
    (the first PUBREL may have been lost to the client) is answered with the same PUBREL
    again, and the message is not re-sent (MQTT-4.3.3-5)."""
    b = start(mqttd_only=True)
    topic = b.ns + "rec/t"
    s = Client(b, b.ns + "s", 5, auto_ack=False)
    s.sub(topic, 2)
    Client(b, b.ns + "p", 5).pub(topic, b"x", qos=2)
    m = s.recv()
    for _ in range(2):
        s.send(raw.ack(raw.PUBREC, m["packet_id"], 5))
        f, body = s.wait(raw.PUBREL)
        assert f == 2 and raw.parse_pub_response(body, 5)[:2] == (m["packet_id"], 0)
    s.send(raw.ack(raw.PUBCOMP, m["packet_id"], 5))
    s.ping()
    assert s.quiet(0.4) == []


def test_packet_id_exhaustion_with_65535_window(start):
    """5.0 MQTT-2.2.1-4 (a new server PUBLISH takes an unused, non-zero packet id) and
    MQTT-3.3.4-9 / 4.9 (no more than the client's Receive Maximum in flight) at the limit:
    with max_inflight = 65535 and a client that does not acknowledge, exactly 65,535 QoS 1
    messages are in flight with every id 1..65535 used once; the rest wait, in order. Each
    PUBACK frees one id, which the next waiting message takes; acknowledging the whole
    window lets the next 65,535 through (each acknowledgement costs the server O(1))."""
    b = start(settings={"max_inflight": 65535, "max_queued_messages": 100000,
                        "max_queued_bytes": 1 << 30}, workers=1)
    topic = b.ns + "ids/t"
    s = Client(b, b.ns + "s", 5, auto_ack=False)
    s.sub(topic, 1)
    p = Client(b, b.ns + "p", 5)
    window, extra = 65535, 20000
    total = window + extra
    batch = []
    for i in range(total):
        batch.append(raw.publish(topic, b"%d" % i, qos=1, packet_id=i % 65535 + 1, version=5))
        if len(batch) == 1000 or i == total - 1:
            # Publisher ids are reused only after their PUBACK: read those as we go.
            p.send(b"".join(batch))
            acks = fast_read_packets(p.sock, len(batch), timeout=60)
            assert len(acks) == len(batch) and all(t == raw.PUBACK for t, _, _ in acks)
            batch = []

    def publishes(n, timeout):
        out = []
        for t, f, body in fast_read_packets(s.sock, n, timeout):
            assert t == raw.PUBLISH
            m = raw.parse_publish(f, body, 5)
            out.append((m["packet_id"], int(m["payload"])))
        return out

    first = publishes(window, 120)
    assert [n for _, n in first] == list(range(window))
    ids = [pid for pid, _ in first]
    assert sorted(ids) == list(range(1, 65536))
    assert publishes(1, 0.5) == []
    for k in range(3):
        s.send(raw.ack(raw.PUBACK, ids[k], 5))
        assert publishes(1, 10) == [(ids[k], window + k)]
    s.send(b"".join(raw.ack(raw.PUBACK, pid, 5) for pid in ids[3:]))
    rest = publishes(extra - 3, 60)
    assert [n for _, n in rest] == list(range(window + 3, total))
    assert len(set(pid for pid, _ in rest)) == len(rest)
    assert publishes(1, 0.3) == []


@pytest.mark.parametrize("qos", [1, 2])
def test_resend_on_resume_respects_new_receive_maximum(start, qos):
    """5.0 MQTT-4.4.0-1 with MQTT-3.3.4-9 and MQTT-4.9.0-1: the send quota starts again from
    the new connection's Receive Maximum. Five messages are in flight unacknowledged when
    the subscriber goes; it comes back with Receive Maximum 2: the server resends (DUP, same
    ids, in order) no more than two at a time, one more per PUBACK/PUBCOMP, then the two
    that were still queued, all in publication order."""
    b = start()
    cid, topic = b.ns + "rm", b.ns + "rm/t"
    props5 = [raw.p_u32(raw.SESSION_EXPIRY, 300), raw.p_u16(raw.RECEIVE_MAXIMUM, 5)]
    s = Client(b, cid, 5, clean=False, auto_ack=False, properties=props5)
    s.sub(topic, qos)
    pub = Client(b, b.ns + "p", 5)
    for i in range(7):
        pub.pub(topic, b"%d" % i, qos=qos)
    first = s.recv_n(5)
    assert s.quiet(0.3) == []  # the window of 5 is full
    s.close()
    props2 = [raw.p_u32(raw.SESSION_EXPIRY, 300), raw.p_u16(raw.RECEIVE_MAXIMUM, 2)]
    s = Client(b, cid, 5, clean=False, auto_ack=False, properties=props2)
    assert s.present is True
    got, outstanding = [], []
    while len(got) < 7:
        new = s.recv_n(1) if not outstanding else []
        new += s.quiet(0.3)
        got += new
        outstanding += new
        assert len(outstanding) <= 2, "more than Receive Maximum in flight: %r" % outstanding
        m = outstanding.pop(0)  # free one slot at a time
        if qos == 1:
            s.send(raw.ack(raw.PUBACK, m["packet_id"], 5))
        else:
            s.send(raw.ack(raw.PUBREC, m["packet_id"], 5))
            s.wait(raw.PUBREL)
            s.send(raw.ack(raw.PUBCOMP, m["packet_id"], 5))
    assert [m["payload"] for m in got] == [b"%d" % i for i in range(7)]
    assert [m["dup"] for m in got] == [True] * 5 + [False] * 2
    assert [m["packet_id"] for m in got[:5]] == [m["packet_id"] for m in first]


# --- takeover -----------------------------------------------------------------------------


def test_takeover_with_qos2_half_done_both_directions_across_workers(start):
    """5.0 MQTT-3.1.4-3 with MQTT-4.4.0-1 and 4.3.3, four workers, eight times: the session
    holds an inbound QoS 2 message PUBREC'd but not released, an outbound one PUBREC'd
    (PUBREL owed to the client) and one not acknowledged at all. The taking-over
    connection (Clean Start 0) gets PUBREL for the first and the PUBLISH again (DUP,
    same id) for the second; the publisher's retransmission is answered PUBREC and not
    forwarded twice, its PUBREL gets PUBCOMP 0x00: each message exactly once."""
    b = start(workers=4)
    watch_topic, in_topic = b.ns + "hd/out", b.ns + "hd/in"
    cid = b.ns + "half"
    watcher = Client(b, b.ns + "watch", 5)
    watcher.sub(in_topic, 2)
    pub = Client(b, b.ns + "pub", 5)
    cur = Client(b, cid, 5, auto_ack=False, **persistent(5))
    cur.sub(watch_topic, 2)
    for i in range(8):
        pub.pub(watch_topic, b"a%d" % i, qos=2)
        pub.pub(watch_topic, b"b%d" % i, qos=2)
        ma, mb = cur.recv_n(2)
        cur.send(raw.ack(raw.PUBREC, ma["packet_id"], 5))
        cur.wait(raw.PUBREL)
        pid_in = 100 + i
        cur.send(raw.publish(in_topic, b"in%d" % i, qos=2, packet_id=pid_in, version=5))
        cur.wait(raw.PUBREC)
        nxt = Client(b, cid, 5, auto_ack=False, **persistent(5))
        assert nxt.present is True
        assert cur.disconnected() == (0x8E, True), "takeover %d" % i
        cur = nxt
        f, body = cur.wait(raw.PUBREL)
        assert raw.parse_pub_response(body, 5)[0] == ma["packet_id"]
        again = cur.recv()
        assert (again["payload"], again["packet_id"], again["dup"]) == (mb["payload"], mb["packet_id"], True)
        cur.send(raw.ack(raw.PUBCOMP, ma["packet_id"], 5))
        cur.send(raw.ack(raw.PUBREC, mb["packet_id"], 5))
        _, body = cur.wait(raw.PUBREL)
        cur.send(raw.ack(raw.PUBCOMP, mb["packet_id"], 5))
        cur.send(raw.publish(in_topic, b"in%d" % i, qos=2, dup=True, packet_id=pid_in, version=5))
        _, body = cur.wait(raw.PUBREC)
        assert raw.parse_pub_response(body, 5)[0] == pid_in
        cur.send(raw.ack(raw.PUBREL, pid_in, 5))
        _, body = cur.wait(raw.PUBCOMP)
        assert raw.parse_pub_response(body, 5)[:2] == (pid_in, 0)
        cur.ping()
        assert cur.quiet(0.1) == []
    got = watcher.recv_n(8) + watcher.quiet(0.5)
    assert [m["payload"] for m in got] == [b"in%d" % i for i in range(8)]


class SessionMirror:
    """The client side of a session for the exactly-once check: QoS 2 packet ids received
    and PUBREC'd but not yet released survive a reconnect (5.0 4.3.3, MQTT-4.3.3-?: the
    receiver must not deliver a retransmission again)."""

    def __init__(self):
        self.unreleased = set()
        self.delivered = []

    def handle(self, conn, t, f, body):
        if t == raw.PUBLISH:
            m = raw.parse_publish(f, body, 5)
            if m["qos"] == 1:
                self.delivered.append(m["payload"])
                conn.send(raw.ack(raw.PUBACK, m["packet_id"], 5))
            elif m["qos"] == 2:
                if m["packet_id"] not in self.unreleased:
                    self.unreleased.add(m["packet_id"])
                    self.delivered.append(m["payload"])
                conn.send(raw.ack(raw.PUBREC, m["packet_id"], 5))
        elif t == raw.PUBREL:
            pid = struct.unpack(">H", body[:2])[0]
            self.unreleased.discard(pid)
            conn.send(raw.ack(raw.PUBCOMP, pid, 5))

    def drain(self, conn, seconds):
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                t, f, body = conn.read(max(0.01, deadline - time.monotonic()))
                try:
                    self.handle(conn, t, f, body)
                except OSError:
                    pass
        except (socket.timeout, EOFError, ConnectionResetError, OSError):
            pass


@pytest.mark.parametrize("qos", [1, 2])
def test_no_loss_no_duplicate_across_repeated_takeovers(start, qos):
    """The requirement behind MQTT-3.1.4-3 + MQTT-4.4.0-1 + MQTT-4.3.3 on a sharded broker:
    messages keep arriving while the subscriber's session is taken over again and again
    (Clean Start 0, four workers, so the new connection is usually moved to the session's
    worker while deliveries for it arrive). Every QoS 1 message arrives at least once and
    in order of first arrival; every QoS 2 message exactly once."""
    b = start(workers=4)
    topic, cid = b.ns + "stream/t", b.ns + "roamer"
    mirror = SessionMirror()
    cur = Client(b, cid, 5, auto_ack=False, **persistent(5))
    cur.sub(topic, qos)
    pub = Client(b, b.ns + "pub", 5)
    n, sent = 240, 0
    for round_ in range(12):
        for _ in range(n // 12):
            pub.pub(topic, b"%05d" % sent, qos=qos)
            sent += 1
        nxt = raw.Raw(b.port)
        nxt.send(raw.connect(cid, version=5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 300)]))
        mirror.drain(cur, 0.05)
        _, body = nxt.expect(raw.CONNACK)
        assert raw.connack_code(body, 5) == (True, 0), "takeover %d" % round_
        mirror.drain(cur, 1.0)  # the old connection: DISCONNECT 0x8E, then closed
        cur.close()
        cur = nxt
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(set(mirror.delivered)) < sent:
        mirror.drain(cur, 0.3)
    mirror.drain(cur, 0.5)
    want = [b"%05d" % i for i in range(sent)]
    assert sorted(set(mirror.delivered)) == want, "lost: %r" % sorted(set(want) - set(mirror.delivered))
    if qos == 2:
        assert sorted(mirror.delivered) == want, "duplicated"


def test_will_on_clean_start_takeover_across_workers(start):
    """5.0 MQTT-3.1.4-3, MQTT-3.1.2-4 and 3.1.3.2.2 (the will goes out when its delay passes
    or the session ends, whichever is first), four workers: a Clean Start takeover ends the
    old session wherever it lives, so its will (delay 60 s) is published at once; a
    Clean Start 0 takeover continues the session, so the delayed will is not sent
    (MQTT-3.1.3-9)."""
    b = start(workers=4)
    topic, cid = b.ns + "tw/will", b.ns + "tw"
    w = Client(b, b.ns + "w", 5)
    w.sub(topic, 1)
    for i in range(8):
        old = Client(b, cid, 5, will=(topic, b"w%d" % i, 1, False, [raw.p_u32(raw.WILL_DELAY, 60)]),
                     **persistent(5))
        new = Client(b, cid, 5, clean=True)
        assert new.present is False
        assert old.disconnected() == (0x8E, True)
        assert w.recv()["payload"] == b"w%d" % i, "takeover %d" % i
        new.bye()
    old = Client(b, cid, 5, will=(topic, b"resumed", 1, False, [raw.p_u32(raw.WILL_DELAY, 60)]),
                 **persistent(5))
    for i in range(6):
        nxt = Client(b, cid, 5, will=(topic, b"resumed", 1, False, [raw.p_u32(raw.WILL_DELAY, 60)]),
                     **persistent(5))
        assert old.disconnected() == (0x8E, True)
        old = nxt
    assert w.quiet(0.6) == []
    old.bye()


def test_own_will_not_delivered_through_no_local_subscription(start):
    """5.0 MQTT-3.8.3-3: a will is published on the client's behalf, so a No Local
    subscription of the same session does not receive it (Mosquitto behaves the same);
    another session's subscription does."""
    b = start()
    topic, cid = b.ns + "nlw/me", b.ns + "nlw"
    other = Client(b, b.ns + "other", 5)
    other.sub(topic, 1)
    c = Client(b, cid, 5, will=(topic, b"gone", 1, False), **persistent(5))
    c.sub([(b.ns + "nlw/#", 1 | NO_LOCAL)])
    c.close()  # no DISCONNECT: the will goes out
    assert other.recv()["payload"] == b"gone"
    c = Client(b, cid, 5, **persistent(5))
    assert c.present is True
    assert c.quiet(0.5) == []


# --- offline queue ------------------------------------------------------------------------


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def metric_value(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


def test_offline_queue_drops_oldest_and_counts_it(make_broker):
    """max_queued_messages = 3: an offline persistent session keeps the newest three QoS 1
    messages (the policy mqttd.example.toml documents: when the queue is full the oldest
    waiting message makes room; EMQX does the same, Mosquitto drops the newest). Each
    dropped message is counted in /metrics as mqttd_messages_dropped_total{reason=
    "queue_full"}, and what is kept is delivered in order."""
    if raw._os.environ.get("MQTTD_TEST_AGAINST"):
        pytest.skip("mqttd-specific behaviour")
    hport = free_port()
    b = make_broker(settings={"max_queued_messages": 3},
                    http={"enabled": True, "bind": "127.0.0.1", "port": hport})
    b.host = "127.0.0.1"
    before = metric_value(metrics(hport), "mqttd_messages_dropped_total", '{reason="queue_full"}') or 0
    c = Client(b, "q", 5, **persistent(5))
    c.sub("q/t", 1)
    c.bye()
    pub = Client(b, "p", 5)
    for i in range(8):
        pub.pub("q/t", b"%d" % i, qos=1)
    c = Client(b, "q", 5, **persistent(5))
    got = c.recv_n(3) + c.quiet(0.5)
    assert [m["payload"] for m in got] == [b"5", b"6", b"7"]
    after = metric_value(metrics(hport), "mqttd_messages_dropped_total", '{reason="queue_full"}')
    assert after - before == 5


def test_expired_retained_message_gives_back_its_memory(make_broker):
    """An expired retained message is not only never delivered (MQTT-3.3.2-5), the store
    also lets it go: mqttd_retained_messages returns to what it was without the topic
    being published again."""
    hport = free_port()
    b = make_broker(http={"enabled": True, "bind": "127.0.0.1", "port": hport})
    before = metric_value(metrics(hport), "mqttd_retained_messages", "")
    pub = raw.Client(b, "exp-pub", 5)
    pub.pub("exp/memory", b"short-lived", qos=1, retain=True,
            properties=[raw.p_u32(raw.MESSAGE_EXPIRY, 1)])
    assert metric_value(metrics(hport), "mqttd_retained_messages", "") == before + 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pub.send(raw.pingreq())  # keeps the worker turning
        if metric_value(metrics(hport), "mqttd_retained_messages", "") == before:
            break
        time.sleep(0.2)
    assert metric_value(metrics(hport), "mqttd_retained_messages", "") == before
