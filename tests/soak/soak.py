#!/usr/bin/env python3
# Usage: python3 tests/soak/soak.py [--minutes 5] [--publishers 8] [--subscribers 8]
#            [--rate 50] [--workers 4] [--mqttd build/src/app/mqttd] [--against HOST:PORT]
"""Soak test for the session layer, run by hand (not in CI): many paho-mqtt publishers
and persistent subscribers for minutes, with random abrupt disconnects on both sides.

Publishers (persistent sessions, MQTT 3.1.1 and 5 mixed) send numbered QoS 1 and QoS 2
messages; subscribers (persistent sessions, subscribed at QoS 2) record what arrives.
Connections are cut at random (socket shut down, no DISCONNECT) and paho reconnects,
resuming the sessions. At the end, after a drain period, the checks are:
  * QoS 2: every message published (PUBCOMP received by the publisher) arrived exactly
    once at every subscriber (MQTT-4.3.3 / MQTT-4.4.0-1);
  * QoS 1: every acknowledged message arrived at least once (duplicates are allowed by
    the protocol and counted);
  * the broker's RSS (mqttd started here) did not keep growing: the last sample is within
    max(25 %, 32 MiB) of the sample taken after the warm-up minute.
Exit status 0 when all hold, 1 otherwise. With --against, a running broker is used and
RSS is not checked."""

import argparse
import collections
import os
import random
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Node:
    """A paho client with a persistent session that reconnects by itself."""

    def __init__(self, name, host, port, v5):
        self.name, self.host, self.port, self.v5 = name, host, port, v5
        if v5:
            self.c = mqtt.Client(client_id=name, protocol=mqtt.MQTTv5)
        else:
            self.c = mqtt.Client(client_id=name, protocol=mqtt.MQTTv311, clean_session=False)
        self.c.max_inflight_messages_set(20)
        self.c.max_queued_messages_set(0)
        self.c.reconnect_delay_set(0.05, 1)
        self.connected = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a, **k: self.connected.clear()
        self.cuts = 0

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        if int(getattr(rc, "value", rc)) == 0:
            self.connected.set()

    def start(self):
        if self.v5:
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = 3600
            self.c.connect(self.host, self.port, keepalive=30, clean_start=False, properties=p)
        else:
            self.c.connect(self.host, self.port, keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("%s: no CONNACK" % self.name)

    def cut(self):
        """Drops the TCP connection without DISCONNECT; paho reconnects."""
        s = self.c.socket()
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
                self.cuts += 1
            except OSError:
                pass

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def completed(info):
    """Whether paho saw PUBACK / PUBCOMP for the message. is_published() raises for a
    message published while disconnected (rc NO_CONN) although paho queued it and sends
    it after the reconnect, so the flag paho sets on completion is read directly."""
    return bool(getattr(info, "_published", False))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--publishers", type=int, default=8)
    ap.add_argument("--subscribers", type=int, default=8)
    ap.add_argument("--rate", type=float, default=50, help="messages per second per publisher")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--cut-every", type=float, default=2.0, help="mean seconds between random cuts")
    ap.add_argument("--mqttd", default=os.environ.get("MQTTD_BIN", "build/src/app/mqttd"))
    ap.add_argument("--against", help="HOST:PORT of a running broker (no RSS check)")
    args = ap.parse_args()

    broker = None
    if args.against:
        host, _, port = args.against.rpartition(":")
        host, port = host or "127.0.0.1", int(port)
    else:
        os.environ["MQTTD_BIN"] = args.mqttd
        import conftest  # the integration tests' broker launcher
        broker = conftest.Broker(settings={"log_level": "warn", "max_queued_messages": 100000},
                                 workers=args.workers).start()
        host, port = "127.0.0.1", broker.port
        log("mqttd pid %d on port %d" % (broker.proc.pid, port))

    run = "soak%x" % random.getrandbits(24)
    topic = run + "/data/%d"
    lock = threading.Lock()
    received = [collections.Counter() for _ in range(args.subscribers)]  # (pub, seq, qos) -> n
    subs = []
    for i in range(args.subscribers):
        n = Node("%s-sub%d" % (run, i), host, port, v5=(i % 2 == 0))

        def on_message(client, userdata, msg, i=i):
            pub, seq = msg.payload.decode().split(":")
            with lock:
                received[i][(int(pub), int(seq), msg.qos)] += 1

        n.c.on_message = on_message
        n.start()
        done = threading.Event()
        n.c.on_subscribe = lambda *a, **k: done.set()
        n.c.subscribe(run + "/data/+", qos=2)
        if not done.wait(10):
            raise RuntimeError("no SUBACK")
        subs.append(n)

    pubs = [Node("%s-pub%d" % (run, i), host, port, v5=(i % 2 == 1)) for i in range(args.publishers)]
    for p in pubs:
        p.start()
    published = [[] for _ in pubs]  # (seq, qos, MQTTMessageInfo)
    stop = threading.Event()

    def publisher(k):
        seq = 0
        p = pubs[k]
        while not stop.is_set():
            qos = 1 + seq % 2
            info = p.c.publish(topic % k, "%d:%d" % (k, seq), qos=qos)
            published[k].append((seq, qos, info))
            seq += 1
            time.sleep(random.expovariate(args.rate))

    def chaos():
        everyone = subs + pubs
        while not stop.wait(random.expovariate(1.0 / args.cut_every)):
            random.choice(everyone).cut()

    threads = [threading.Thread(target=publisher, args=(k,), daemon=True) for k in range(len(pubs))]
    threads.append(threading.Thread(target=chaos, daemon=True))
    for t in threads:
        t.start()

    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    warm_rss = None
    samples = []
    while time.monotonic() < end:
        time.sleep(10)
        sent = sum(len(x) for x in published)
        with lock:
            got = sum(sum(c.values()) for c in received)
        line = "%5.0fs published %d, deliveries %d, cuts %d" % (
            time.monotonic() - t0, sent, got, sum(n.cuts for n in subs + pubs))
        if broker:
            r = rss_kib(broker.proc.pid)
            samples.append(r)
            if warm_rss is None and time.monotonic() - t0 >= 60:
                warm_rss = r
            line += ", mqttd RSS %d KiB" % r
        log(line)
    stop.set()
    for t in threads[:-1]:
        t.join()

    log("draining: waiting for every publish to complete and every subscriber to catch up")
    deadline = time.monotonic() + 120
    for k, lst in enumerate(published):
        for seq, qos, info in lst:
            while not completed(info) and time.monotonic() < deadline:
                time.sleep(0.05)
    acked = {(k, seq, qos) for k, lst in enumerate(published) for seq, qos, info in lst if completed(info)}
    unacked = sum(len(lst) for lst in published) - len(acked)
    while time.monotonic() < deadline:
        with lock:
            missing = sum(1 for c in received for key in acked if key not in c)
        if missing == 0:
            break
        time.sleep(1)
    for n in subs + pubs:
        n.stop()

    ok = True
    with lock:
        lost = collections.Counter()
        dup2 = collections.Counter()
        dup1 = 0
        for i, c in enumerate(received):
            for key in acked:
                if key not in c:
                    lost[key[2]] += 1
            for key, times in c.items():
                if times > 1 and key[2] == 2:
                    dup2[i] += times - 1
                elif times > 1:
                    dup1 += times - 1
    log("published %d (acknowledged %d, never acknowledged %d), subscribers %d" % (
        len(acked) + unacked, len(acked), unacked, len(subs)))
    if lost:
        ok = False
        log("FAIL: lost deliveries by QoS: %s" % dict(lost))
    if dup2:
        ok = False
        log("FAIL: QoS 2 duplicates per subscriber: %s" % dict(dup2))
    log("QoS 1 duplicates (allowed): %d" % dup1)
    if broker:
        if warm_rss is not None and samples:
            limit = max(warm_rss * 1.25, warm_rss + 32 * 1024)
            log("RSS after warm-up %d KiB, last %d KiB, max %d KiB (limit %d)" % (
                warm_rss, samples[-1], max(samples), limit))
            if samples[-1] > limit:
                ok = False
                log("FAIL: broker RSS grew")
        status = broker.stop()
        broker.cleanup()
        if status != 0:
            ok = False
            log("FAIL: mqttd exited with %r" % status)
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
