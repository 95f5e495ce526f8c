"""Session layer, connecting: clean start / clean session, the session present flag,
session takeover (also across workers), persistent 3.1.1 sessions, MQTT 5 session
expiry and the max_session_expiry cap, empty client identifiers.

Statement ids are those of the OASIS specifications: "3.1.1" for MQTT 3.1.1 (2014),
"5.0" for MQTT 5.0 (2019). MQTTD_TEST_AGAINST=host:port runs the same tests against an
already-running broker (see mqtt_raw._session_broker)."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest

import mqtt_raw as raw
from mqtt_raw import Client, persistent


@pytest.mark.parametrize("version", [4, 5])
def test_session_present_flag_follows_clean_start(start, version):
    """3.1.1: MQTT-3.2.2-1 (CleanSession 1 -> Session Present 0), MQTT-3.2.2-2 (resumed ->
    1), MQTT-3.2.2-3 (no stored session -> 0); MQTT-3.1.2-6 (CleanSession 1 discards).
    5.0: MQTT-3.2.2-2, MQTT-3.2.2-3, MQTT-3.1.2-4 (Clean Start 1 discards the session)."""
    b = start()
    cid = b.ns + "present"
    c = Client(b, cid, version, **persistent(version))
    assert c.present is False  # nothing stored yet
    c.bye()
    c = Client(b, cid, version, **persistent(version))
    assert c.present is True
    c.bye()
    c = Client(b, cid, version, clean=True)
    assert c.present is False
    c.bye()
    # The clean connection ended its session (expiry 0 / CleanSession 1): nothing left.
    c = Client(b, cid, version, **persistent(version))
    assert c.present is False
    c.bye()


@pytest.mark.parametrize("version", [4, 5])
def test_clean_start_discards_subscriptions(start, version):
    """3.1.1 MQTT-3.1.2-6 / 5.0 MQTT-3.1.2-4: a clean connection starts a new session, so
    the subscriptions of the old one no longer deliver."""
    b = start()
    cid, topic = b.ns + "clean", b.ns + "clean/t"
    c = Client(b, cid, version, **persistent(version))
    assert c.sub(topic, 1) == [1]
    c.bye()
    c = Client(b, cid, version, clean=True)
    pub = Client(b, b.ns + "pub", version)
    pub.pub(topic, b"after clean start", qos=1)
    assert c.quiet(0.5) == []
    # ... while a fresh subscription on the clean session works.
    assert c.sub(topic, 1) == [1]
    pub.pub(topic, b"now", qos=1)
    assert c.recv()["payload"] == b"now"


@pytest.mark.parametrize("version", [4, 5])
def test_persistent_session_keeps_subscriptions(start, version):
    """3.1.1 MQTT-3.1.2-4 / 5.0 MQTT-3.1.2-5 (resume the session: its subscriptions are part
    of the session state, 3.1.1 3.1.2.4 / 5.0 4.1), MQTT-3.2.2-2/-3 (Session Present 1)."""
    b = start()
    cid, topic = b.ns + "keeps", b.ns + "keeps/+"
    c = Client(b, cid, version, **persistent(version))
    assert c.sub(topic, 2) == [2]
    c.bye()
    c = Client(b, cid, version, **persistent(version))
    assert c.present is True
    pub = Client(b, b.ns + "pub", version)
    pub.pub(b.ns + "keeps/x", b"still subscribed", qos=2)
    m = c.recv()
    assert (m["topic"], m["payload"], m["qos"]) == (b.ns + "keeps/x", b"still subscribed", 2)


@pytest.mark.parametrize("version", [4, 5])
def test_takeover_closes_the_old_connection(start, version):
    """3.1.1 and 5.0 MQTT-3.1.4-3: a second connection with the same client id makes the
    server close the first; 5.0 sends DISCONNECT 0x8E (Session taken over) first."""
    b = start()
    cid = b.ns + "twin"
    old = Client(b, cid, version)
    new = Client(b, cid, version)
    reason, closed = old.disconnected()
    assert closed
    if version == 5:
        assert reason == 0x8E
    new.ping()  # the new connection carries on


def test_takeover_with_resume_keeps_the_session(start):
    """5.0 MQTT-3.1.4-3 and MQTT-3.2.2-3: the new connection (Clean Start 0) takes the
    session over with Session Present 1 and its subscription still delivers."""
    b = start()
    cid, topic = b.ns + "twin2", b.ns + "twin2/t"
    old = Client(b, cid, 5, **persistent(5))
    old.sub(topic, 1)
    new = Client(b, cid, 5, **persistent(5))
    assert new.present is True
    assert old.disconnected() == (0x8E, True)
    Client(b, b.ns + "pub", 5).pub(topic, b"to the new one", qos=1)
    assert new.recv()["payload"] == b"to the new one"


def test_takeover_across_workers_many_times(start):
    """5.0 MQTT-3.1.4-3 with 4 workers: SO_REUSEPORT spreads connections by source port, so
    over 24 takeovers the new connection lands on another worker than the session's most
    of the time (all on one worker: 4^-23). Each time the previous connection gets
    DISCONNECT 0x8E and is closed, the new one resumes the session (Session Present 1,
    MQTT-3.2.2-3) and the subscription made on the first connection delivers to it."""
    b = start(workers=4)
    cid, topic = b.ns + "roamer", b.ns + "roam/t"
    cur = Client(b, cid, 5, **persistent(5))
    assert cur.present is False
    assert cur.sub(topic, 1) == [1]
    pub = Client(b, b.ns + "roam-pub", 5)
    for i in range(24):
        nxt = Client(b, cid, 5, **persistent(5))
        assert nxt.present is True, "takeover %d lost the session" % i
        assert cur.disconnected() == (0x8E, True), "takeover %d" % i
        cur = nxt
        payload = b"m%d" % i
        pub.pub(topic, payload, qos=1)
        m = cur.recv()
        assert (m["payload"], m["qos"]) == (payload, 1), "takeover %d" % i
    assert cur.quiet(0.3) == []  # each message delivered once


def test_takeover_across_workers_with_clean_start(start):
    """5.0 MQTT-3.1.4-3 and MQTT-3.1.2-4 with 4 workers: a Clean Start takeover closes the
    old connection (0x8E), gets Session Present 0 (MQTT-3.2.2-2), and the old session's
    subscription is gone wherever it lived."""
    b = start(workers=4)
    cid, topic = b.ns + "cleaner", b.ns + "cleaner/t"
    pub = Client(b, b.ns + "cleaner-pub", 5)
    for i in range(12):
        old = Client(b, cid, 5, **persistent(5))
        old.sub(topic, 1)
        new = Client(b, cid, 5, clean=True)
        assert new.present is False
        assert old.disconnected() == (0x8E, True), "round %d" % i
        pub.pub(topic, b"x%d" % i, qos=1)
        assert new.quiet(0.15) == [], "round %d: old subscription survived" % i
        new.bye()


def test_takeover_race_leaves_exactly_one_connection(start):
    """5.0 MQTT-3.1.4-3 under contention: eight connections with one client id at once on
    4 workers; when the dust settles exactly one of them is still open."""
    b = start(workers=4)
    cid = b.ns + "racer"
    socks = [raw.Raw(b.port, b.host) for _ in range(8)]
    for s in socks:
        s.send(raw.connect(cid, version=5, clean=False, properties=[raw.p_u32(raw.SESSION_EXPIRY, 60)]))
    alive = []
    for s in socks:
        try:
            t, _, body = s.read()
        except (EOFError, ConnectionResetError):
            continue
        if t != raw.CONNACK or body[1] != 0:
            continue
        if not s.closed(timeout=1.0):
            alive.append(s)
    assert len(alive) == 1
    alive[0].send(raw.pingreq())
    assert alive[0].expect(raw.PINGRESP)


def test_v5_session_expiry_zero_ends_session_at_disconnect(start):
    """5.0 3.1.2.11.2: an absent Session Expiry Interval is 0 and the session ends when the
    connection closes (MQTT-3.1.2-23 stores state only for an interval above 0), even
    with Clean Start 0."""
    b = start()
    cid = b.ns + "noexpiry"
    c = Client(b, cid, 5, clean=False)
    c.sub(b.ns + "noexpiry/t", 1)
    c.bye()
    c = Client(b, cid, 5, clean=False)
    assert c.present is False


def test_v5_session_gone_after_expiry(start):
    """5.0 MQTT-3.1.2-23 and 3.1.2.11.2: the session (with its subscription) is kept for the
    Session Expiry Interval after the connection closes, and is gone after it."""
    b = start()
    cid, topic = b.ns + "expiring", b.ns + "expiring/t"
    c = Client(b, cid, 5, **persistent(5, expiry=1))
    c.sub(topic, 1)
    c.close()  # no DISCONNECT: the interval counts from the close all the same
    time.sleep(2.5)
    pub = Client(b, b.ns + "pub", 5)
    pub.pub(topic, b"nobody home", qos=1)
    c = Client(b, cid, 5, **persistent(5))
    assert c.present is False
    assert c.quiet(0.3) == []


def test_v5_session_resumed_within_expiry(start):
    """5.0 MQTT-3.1.2-23, MQTT-3.2.2-3: reconnecting within the interval finds the session."""
    b = start()
    cid = b.ns + "brief"
    c = Client(b, cid, 5, **persistent(5, expiry=30))
    c.close()
    time.sleep(0.3)
    c = Client(b, cid, 5, **persistent(5, expiry=30))
    assert c.present is True


def test_disconnect_may_shorten_session_expiry(start):
    """5.0 3.14.2.2.2: the Session Expiry Interval in DISCONNECT replaces the CONNECT's; 0
    ends the session at once."""
    b = start()
    cid = b.ns + "shorten"
    c = Client(b, cid, 5, **persistent(5, expiry=300))
    c.bye(reason=0, properties=[raw.p_u32(raw.SESSION_EXPIRY, 0)])
    time.sleep(0.2)
    c = Client(b, cid, 5, **persistent(5))
    assert c.present is False


def test_disconnect_cannot_extend_a_zero_expiry(start):
    """5.0 3.14.2.2.2 (no statement id): with Session Expiry 0 at CONNECT, a non-zero
    interval in DISCONNECT is a Protocol Error; the server does not treat it as a valid
    DISCONNECT, answers DISCONNECT 0x82 and closes; the session still ends with the
    connection (no state kept)."""
    b = start()
    cid = b.ns + "extend"
    c = Client(b, cid, 5, clean=False)
    c.send(raw.disconnect(5, 0, [raw.p_u32(raw.SESSION_EXPIRY, 300)]))
    reason, closed = c.disconnected()
    assert closed
    assert reason in (None, 0x82)  # the server may answer DISCONNECT 0x82 before closing
    c = Client(b, cid, 5, clean=False)
    assert c.present is False


def test_max_session_expiry_caps_v5_interval(start):
    """5.0 3.2.2.3.2: a server using another Session Expiry Interval than the client asked
    for says so in CONNACK; with max_session_expiry = 1 the session is gone 1 s after the
    close although the client asked for an hour (MQTT-3.1.2-23 with the server's value)."""
    b = start(settings={"max_session_expiry": 1})
    cid = b.ns + "capped"
    c = Client(b, cid, 5, **persistent(5, expiry=3600))
    assert c.props.get(raw.SESSION_EXPIRY) == 1
    c.sub(b.ns + "capped/t", 1)
    c.close()
    time.sleep(0.3)
    c = Client(b, cid, 5, **persistent(5, expiry=3600))
    assert c.present is True  # still there within the capped interval
    c.close()
    time.sleep(2.5)
    c = Client(b, cid, 5, **persistent(5, expiry=3600))
    assert c.present is False


def test_max_session_expiry_caps_311_persistent_session(start):
    """mqttd: max_session_expiry is also the lifetime of a 3.1.1 persistent session (3.1.1
    3.1.2.4 lets the server discard session state by administrative policy)."""
    b = start(settings={"max_session_expiry": 1}, mqttd_only=True)
    cid = b.ns + "capped311"
    Client(b, cid, 4, clean=False).close()
    time.sleep(0.3)
    c = Client(b, cid, 4, clean=False)
    assert c.present is True
    c.close()
    time.sleep(2.5)
    assert Client(b, cid, 4, clean=False).present is False


def test_v5_empty_client_id_gets_assigned_identifier(start):
    """5.0 MQTT-3.1.3-6 and MQTT-3.1.3-7: a zero-length ClientID accepted by the server is
    replaced by a unique one returned as Assigned Client Identifier (0x12) in CONNACK."""
    b = start()
    a = Client(b, "", 5)
    c = Client(b, "", 5)
    ida, idc = a.props.get(raw.ASSIGNED_CLIENT_ID), c.props.get(raw.ASSIGNED_CLIENT_ID)
    assert ida and idc and ida != idc
    assert a.present is False
    # The assigned id names a real session: a takeover with it closes the first client.
    Client(b, ida, 5)
    assert a.disconnected() == (0x8E, True)


def test_v5_empty_client_id_session_is_usable(start):
    """5.0 MQTT-3.1.3-7: the connection is processed as if the client had given the
    assigned id; subscribe and receive work."""
    b = start()
    c = Client(b, "", 5)
    topic = b.ns + "anon/t"
    assert c.sub(topic, 1) == [1]
    Client(b, b.ns + "pub", 5).pub(topic, b"hi", qos=1)
    assert c.recv()["payload"] == b"hi"


def test_311_empty_client_id_with_clean_session_accepted(start):
    """3.1.1 MQTT-3.1.3-6: the server MAY allow a zero-byte ClientId (it then assigns one);
    with CleanSession 1 (MQTT-3.1.3-7) mqttd and Mosquitto accept it."""
    b = start()
    c = Client(b, "", 4, clean=True)
    assert (c.code, c.present) == (0, False)
    topic = b.ns + "anon311/t"
    assert c.sub(topic, 1) == [1]
    Client(b, b.ns + "pub", 4).pub(topic, b"hi", qos=1)
    assert c.recv()["payload"] == b"hi"


def test_311_empty_client_id_without_clean_session_refused(start):
    """3.1.1 MQTT-3.1.3-8: zero-byte ClientId with CleanSession 0 -> CONNACK return code
    0x02 (Identifier rejected), then the server closes the connection."""
    b = start()
    c = Client(b, "", 4, clean=False, expect=None)
    assert c.connack == b"\x00\x02"
    assert c.closed()


def test_zero_length_client_id_refused_when_disallowed(start):
    """allow_zero_length_client_id = false: 5.0 MQTT-3.1.3-8 (a refused ClientID MAY get
    CONNACK 0x85 Client Identifier not valid - mqttd sends it; any refusal code >= 0x80
    is allowed - and the connection MUST be closed); 3.1.1 MQTT-3.1.3-9 (return code
    0x02 Identifier rejected, then close)."""
    b = start(settings={"allow_zero_length_client_id": False})
    c = Client(b, "", 5, expect=None)
    assert c.code >= 0x80
    if getattr(b, "is_mqttd", False):
        assert c.code == 0x85
    assert c.closed()
    c = Client(b, "", 4, expect=None)
    assert c.connack == b"\x00\x02"
    assert c.closed()


def test_second_connect_is_a_protocol_violation(start):
    """3.1.1 MQTT-3.1.0-2 / 5.0 MQTT-3.1.0-2: a second CONNECT is a protocol violation; the
    server closes the connection."""
    b = start()
    c = Client(b, b.ns + "twice", 4)
    c.send(raw.connect(b.ns + "twice", version=4))
    assert c.closed()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_sees_session_present(start, protocol):
    """The same through paho-mqtt: Session Present 0 on the first persistent connection,
    1 on the next (3.1.1 MQTT-3.2.2-2/-3, 5.0 MQTT-3.2.2-3)."""
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    b = start()
    flags_seen = []

    def once():
        done = threading.Event()
        if protocol == mqtt.MQTTv5:
            c = mqtt.Client(client_id=b.ns + "paho", protocol=protocol)
        else:
            c = mqtt.Client(client_id=b.ns + "paho", protocol=protocol, clean_session=False)

        def on_connect(client, userdata, flags, rc, properties=None):
            flags_seen.append((flags.get("session present"), int(getattr(rc, "value", rc))))
            done.set()

        c.on_connect = on_connect
        if protocol == mqtt.MQTTv5:
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = 300
            c.connect(b.host, b.port, keepalive=30, clean_start=False, properties=p)
        else:
            c.connect(b.host, b.port, keepalive=30)
        c.loop_start()
        assert done.wait(5), "no CONNACK"
        c.disconnect()
        c.loop_stop()

    once()
    once()
    assert flags_seen == [(0, 0), (1, 0)]


def test_disconnect_then_reconnect_sees_the_disconnect_first(start):
    """A client that sent DISCONNECT (session expiry 0) and closed, then connects again
    with Clean Start 0, must find no session (MQTT-3.1.2-23), even when the new
    connection lands on another worker and is moved to the one that still holds the
    old connection: the old connection's bytes arrived first and are handled first.
    Repeated because the race it guards against is a matter of timing."""
    b = start()
    for i in range(200):
        cid = b.ns + "reconnect-%d" % i
        c = Client(b, cid, 5, clean=False)
        c.bye()
        c = Client(b, cid, 5, clean=False)
        assert c.present is False, "round %d: the old session was resumed" % i
        c.bye()
