"""A deliberately small, independent MQTT packet writer/reader for byte-level tests
(exact reason codes, malformed input, timing of closes). Written from the OASIS
specifications, sharing no code with mqttd's codec."""

import socket
import struct
import time

# Packet types
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def utf8(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">H", len(s)) + s


def props(pairs):
    """pairs: list of (id, encoded-value-bytes) -> property block with length."""
    body = b"".join(bytes([pid]) + val for pid, val in pairs)
    return varint(len(body)) + body


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect(client_id="", version=4, clean=True, keepalive=60, will=None, username=None,
            password=None, properties=None):
    """will: (topic, payload, qos, retain[, will_props_pairs])"""
    name = b"MQIsdp" if version == 3 else b"MQTT"
    flags = 0x02 if clean else 0
    payload = utf8(client_id)
    if will:
        topic, msg, qos, retain = will[:4]
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        if version == 5:
            payload += props(will[4] if len(will) > 4 else [])
        payload += utf8(topic) + utf8(msg)
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    var = utf8(name) + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == 5:
        var += props(properties or [])
    return packet(CONNECT, 0, var + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=1, version=4, properties=None):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = utf8(topic)
    if qos:
        body += struct.pack(">H", packet_id)
    if version == 5:
        body += props(properties or [])
    return packet(PUBLISH, flags, body + payload)


def subscribe(packet_id, filters, version=4, properties=None):
    """filters: list of (filter, options_byte)"""
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += props(properties or [])
    for f, opts in filters:
        body += utf8(f) + bytes([opts])
    return packet(SUBSCRIBE, 2, body)


def ack(ptype, packet_id, version=4, reason=None):
    body = struct.pack(">H", packet_id)
    if version == 5 and reason is not None:
        body += bytes([reason])
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def disconnect(version=4, reason=None, properties=None):
    body = b""
    if version == 5 and (reason is not None or properties):
        body = bytes([reason or 0]) + props(properties or [])
    return packet(DISCONNECT, 0, body)


def pingreq():
    return packet(PINGREQ, 0, b"")


class Raw:
    """A blocking TCP connection that reads whole MQTT packets."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the broker")
        self.buf += chunk

    def read(self, timeout=5.0):
        """Returns (type, flags, body) of the next packet; raises EOFError on close and
        socket.timeout when nothing arrives."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n and not (self.buf[i - 1] & 0x80):
                    first = self.buf[0]
                    body = self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    return first >> 4, first & 0x0F, body
            self._fill(deadline)

    def expect(self, ptype, timeout=5.0):
        t, f, body = self.read(timeout)
        assert t == ptype, "expected packet type %d, got %d (%r)" % (ptype, t, body)
        return f, body

    def closed(self, timeout=5.0):
        """True if the broker closes the connection within `timeout` (any packets read
        before the close are discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
                self.buf = b""
        except EOFError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connack_code(body, version):
    """(session_present, reason_or_return_code) of a CONNACK body."""
    return bool(body[0] & 1), body[1]


def parse_publish(flags, body, version=4):
    """-> dict(topic, qos, retain, dup, packet_id, properties_raw, payload)"""
    qos = (flags >> 1) & 3
    tlen = struct.unpack(">H", body[:2])[0]
    topic = body[2:2 + tlen].decode()
    pos = 2 + tlen
    pid = None
    if qos:
        pid = struct.unpack(">H", body[pos:pos + 2])[0]
        pos += 2
    praw = b""
    if version == 5:
        mult, n = 1, 0
        while True:
            b = body[pos]
            pos += 1
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        praw = body[pos:pos + n]
        pos += n
    return {"topic": topic, "qos": qos, "retain": bool(flags & 1), "dup": bool(flags & 8),
            "packet_id": pid, "properties_raw": praw, "payload": body[pos:]}


def parse_props(raw):
    """Decodes a v5 property block (without its length) into a dict id -> value or list."""
    out = {}
    i = 0
    one_byte = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
    two_byte = {0x13, 0x21, 0x22, 0x23}
    four_byte = {0x02, 0x11, 0x18, 0x27}
    strings = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
    binary = {0x09, 0x16}
    while i < len(raw):
        pid = raw[i]
        i += 1
        if pid in one_byte:
            val = raw[i]
            i += 1
        elif pid in two_byte:
            val = struct.unpack(">H", raw[i:i + 2])[0]
            i += 2
        elif pid in four_byte:
            val = struct.unpack(">I", raw[i:i + 4])[0]
            i += 4
        elif pid == 0x0B:
            mult, val = 1, 0
            while True:
                b = raw[i]
                i += 1
                val += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
        elif pid in strings or pid in binary:
            n = struct.unpack(">H", raw[i:i + 2])[0]
            val = raw[i + 2:i + 2 + n]
            if pid in strings:
                val = val.decode()
            i += 2 + n
        elif pid == 0x26:
            n = struct.unpack(">H", raw[i:i + 2])[0]
            k = raw[i + 2:i + 2 + n].decode()
            i += 2 + n
            n = struct.unpack(">H", raw[i:i + 2])[0]
            v = raw[i + 2:i + 2 + n].decode()
            i += 2 + n
            val = (k, v)
        else:
            raise ValueError("unknown property 0x%02x" % pid)
        if pid in (0x26, 0x0B):
            out.setdefault(pid, []).append(val)
        else:
            out[pid] = val
    return out


def connack_props(body):
    """Property dict of a v5 CONNACK body."""
    pos = 2
    mult, n = 1, 0
    while True:
        b = body[pos]
        pos += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return parse_props(body[pos:pos + n])


def open_session(port, client_id, version=4, clean=True, keepalive=60, properties=None, will=None):
    """Connects and checks the CONNACK is a success; returns (Raw, session_present, body)."""
    r = Raw(port)
    r.send(connect(client_id, version=version, clean=clean, keepalive=keepalive,
                   properties=properties, will=will))
    _, body = r.expect(CONNACK)
    present, code = connack_code(body, version)
    assert code == 0, "CONNACK refused with 0x%02x" % code
    return r, present, body


# ---------------------------------------------------------------------------------------
# Helpers for the session-layer tests (test_session_*.py): v5 properties, the packets
# the helpers above lack, a small client that collects and acknowledges publishes, and
# the switch that points the same tests at an already-running broker.
# ---------------------------------------------------------------------------------------

import json as _json
import os as _os
import uuid as _uuid

# MQTT 5 property identifiers (MQTT 5.0 section 2.2.2.2)
PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE = 0x01, 0x02, 0x03
RESPONSE_TOPIC, CORRELATION_DATA, SUBSCRIPTION_ID = 0x08, 0x09, 0x0B
SESSION_EXPIRY, ASSIGNED_CLIENT_ID, SERVER_KEEP_ALIVE = 0x11, 0x12, 0x13
AUTH_METHOD, AUTH_DATA, REQUEST_PROBLEM_INFO, WILL_DELAY = 0x15, 0x16, 0x17, 0x18
REASON_STRING, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS = 0x1F, 0x21, 0x22, 0x23
MAXIMUM_QOS, RETAIN_AVAILABLE, USER_PROPERTY, MAXIMUM_PACKET_SIZE = 0x24, 0x25, 0x26, 0x27


def p_byte(pid, v):
    return (pid, bytes([v]))


def p_u16(pid, v):
    return (pid, struct.pack(">H", v))


def p_u32(pid, v):
    return (pid, struct.pack(">I", v))


def p_str(pid, s):
    return (pid, utf8(s))


def p_bin(pid, b):
    return (pid, struct.pack(">H", len(b)) + b)


def p_varint(pid, n):
    return (pid, varint(n))


def p_user(k, v):
    return (USER_PROPERTY, utf8(k) + utf8(v))


def unsubscribe(packet_id, filters, version=4, properties=None):
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += props(properties or [])
    for f in filters:
        body += utf8(f)
    return packet(UNSUBSCRIBE, 2, body)


def auth(reason=0, properties=None):
    return packet(AUTH, 0, bytes([reason]) + props(properties or []))


def _read_props(body, pos):
    mult, n = 1, 0
    while True:
        b = body[pos]
        pos += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return parse_props(body[pos:pos + n]), pos + n


def parse_sub_ack(body, version):
    """SUBACK / UNSUBACK body -> (packet_id, [reason codes], properties). A 3.1.1
    UNSUBACK has no codes (an empty list)."""
    pid = struct.unpack(">H", body[:2])[0]
    pos, pr = 2, {}
    if version == 5:
        pr, pos = _read_props(body, pos)
    return pid, list(body[pos:]), pr


def parse_pub_response(body, version):
    """PUBACK/PUBREC/PUBREL/PUBCOMP body -> (packet_id, reason, properties)."""
    pid = struct.unpack(">H", body[:2])[0]
    if version != 5 or len(body) == 2:
        return pid, 0, {}
    if len(body) == 3:
        return pid, body[2], {}
    pr, _ = _read_props(body, 3)
    return pid, body[2], pr


def parse_disconnect(body):
    """v5 DISCONNECT body -> (reason, properties); an empty body is 0x00."""
    if not body:
        return 0, {}
    if len(body) == 1:
        return body[0], {}
    pr, _ = _read_props(body, 1)
    return body[0], pr


def publish_props(pub):
    """Property dict of a publish dict returned by parse_publish (v5)."""
    return parse_props(pub["properties_raw"])


class Client(Raw):
    """A raw-socket client for session tests. Reading is centralised in pump(): PUBLISH
    packets go to `inbox` (acknowledged at once while `auto_ack` is true: PUBACK, PUBREC,
    and PUBCOMP for the PUBREL that follows), everything else to `other`."""

    def __init__(self, target, client_id, version=5, clean=True, keepalive=60, properties=None,
                 will=None, auto_ack=True, expect=0, username=None, password=None):
        Raw.__init__(self, target.port, getattr(target, "host", "127.0.0.1"))
        self.version = version
        self.auto_ack = auto_ack
        self.inbox = []
        self.other = []
        self.next_id = 1
        self.send(connect(client_id, version=version, clean=clean, keepalive=keepalive,
                          will=will, properties=properties, username=username, password=password))
        _, body = self.expect(CONNACK)
        self.connack = body
        self.present, self.code = connack_code(body, version)
        self.props = connack_props(body) if version == 5 and len(body) > 2 else {}
        if expect is not None:
            assert self.code == expect, "CONNACK 0x%02x, expected 0x%02x" % (self.code, expect)

    def pid(self):
        p = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return p

    def pump(self, timeout):
        t, f, body = Raw.read(self, timeout)
        if t == PUBLISH:
            m = parse_publish(f, body, self.version)
            if self.version == 5:
                m["props"] = publish_props(m)
            self.inbox.append(m)
            if self.auto_ack and m["qos"] == 1:
                self.send(ack(PUBACK, m["packet_id"], self.version))
            elif self.auto_ack and m["qos"] == 2:
                self.send(ack(PUBREC, m["packet_id"], self.version))
        elif t == PUBREL and self.auto_ack:
            self.send(ack(PUBCOMP, struct.unpack(">H", body[:2])[0], self.version))
            self.other.append((t, f, body))
        else:
            self.other.append((t, f, body))

    def wait(self, ptype, timeout=5.0):
        """The next non-PUBLISH packet of `ptype` (others before it are dropped from
        `other`); raises socket.timeout when it does not come."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (t, f, body) in enumerate(self.other):
                if t == ptype:
                    del self.other[:i + 1]
                    return f, body
            self.pump(max(0.01, deadline - time.monotonic()))

    def recv(self, timeout=5.0):
        """The next PUBLISH (a dict from parse_publish, with "props" for v5)."""
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self.pump(max(0.01, deadline - time.monotonic()))
        return self.inbox.pop(0)

    def recv_n(self, n, timeout=5.0):
        return [self.recv(timeout) for _ in range(n)]

    def quiet(self, seconds=0.5):
        """Everything that arrives within `seconds` (the inbox is emptied); for
        asserting that nothing (more) is delivered."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.pump(max(0.01, deadline - time.monotonic()))
        except socket.timeout:
            pass
        got, self.inbox = self.inbox, []
        return got

    def sub(self, filters, qos=0, properties=None):
        """SUBSCRIBE (filters: a string, or a list of strings or (filter, options)) and
        wait for the SUBACK; returns its reason codes."""
        if isinstance(filters, str):
            filters = [filters]
        filters = [f if isinstance(f, tuple) else (f, qos) for f in filters]
        p = self.pid()
        self.send(subscribe(p, filters, self.version, properties))
        _, body = self.wait(SUBACK)
        got, codes, _ = parse_sub_ack(body, self.version)
        assert got == p, "SUBACK for packet id %d, sent %d" % (got, p)
        return codes

    def unsub(self, filters, properties=None):
        if isinstance(filters, str):
            filters = [filters]
        p = self.pid()
        self.send(unsubscribe(p, filters, self.version, properties))
        _, body = self.wait(UNSUBACK)
        got, codes, _ = parse_sub_ack(body, self.version)
        assert got == p
        return codes

    def pub(self, topic, payload=b"", qos=0, retain=False, properties=None, packet_id=None):
        """PUBLISH and complete its flow; returns the PUBACK/PUBREC reason (0 for QoS 0)."""
        p = packet_id or (self.pid() if qos else 1)
        self.send(publish(topic, payload, qos=qos, retain=retain, packet_id=p,
                          version=self.version, properties=properties))
        if qos == 0:
            return 0
        _, body = self.wait(PUBACK if qos == 1 else PUBREC)
        got, reason, _ = parse_pub_response(body, self.version)
        assert got == p
        if qos == 2 and reason < 0x80:
            self.send(ack(PUBREL, p, self.version))
            _, body = self.wait(PUBCOMP)
            assert parse_pub_response(body, self.version)[0] == p
        return reason

    def ping(self):
        self.send(pingreq())
        self.wait(PINGRESP)

    def bye(self, reason=None, properties=None):
        self.send(disconnect(self.version, reason, properties))
        self.close()

    def disconnected(self, timeout=5.0):
        """(reason of a v5 DISCONNECT or None, whether the connection closed)."""
        reason = None
        try:
            _, body = self.wait(DISCONNECT, timeout)
            reason = parse_disconnect(body)[0]
        except (EOFError, ConnectionResetError):
            return reason, True
        except socket.timeout:
            return reason, False
        return reason, self.closed(timeout)


class ExternalBroker:
    """An already-running broker named by MQTTD_TEST_AGAINST=host:port."""

    is_mqttd = False

    def __init__(self, hostport):
        host, _, port = hostport.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)


def persistent(version, expiry=300):
    """Client() arguments for a session that outlives its connection."""
    if version == 5:
        return {"clean": False, "properties": [p_u32(SESSION_EXPIRY, expiry)]}
    return {"clean": False}


def _session_broker(request):
    """Backs the `target` fixture: start_target(settings=None, workers=2, mqttd_only=False)
    starts mqttd through conftest's make_broker, or, with MQTTD_TEST_AGAINST=host:port,
    returns that running broker instead (for checking the tests themselves against another
    implementation). In that mode a test needing broker settings is skipped unless
    MQTTD_TEST_AGAINST_SETTINGS (JSON) says the running broker has exactly them, and a
    test of mqttd-specific behaviour (mqttd_only) is skipped. Every returned broker has
    `ns`, a prefix unique to the test for topics and client ids, so that state left in a
    long-running broker never meets another test."""
    against = _os.environ.get("MQTTD_TEST_AGAINST")
    ns = "%s-" % _uuid.uuid4().hex[:8]

    def start(settings=None, workers=2, mqttd_only=False):
        if against:
            import pytest
            if mqttd_only:
                pytest.skip("mqttd-specific behaviour")
            have = _json.loads(_os.environ.get("MQTTD_TEST_AGAINST_SETTINGS", "{}"))
            for k, v in (settings or {}).items():
                if have.get(k) != v:
                    pytest.skip("needs broker setting %s = %r" % (k, v))
            b = ExternalBroker(against)
        else:
            b = request.getfixturevalue("make_broker")(settings=settings, workers=workers)
            b.host = "127.0.0.1"
            b.is_mqttd = True
        b.ns = ns
        return b

    return start
