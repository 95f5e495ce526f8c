#!/usr/bin/env python3
"""Runs one named load scenario end to end against one MQTT broker and prints one
comparable table row.

  scenario.py NAME [--broker mqttd|mosquitto|NAME=HOST:PORT:PID] [--qos 0|1] [--smoke] ...

NAME is connections, fan-in, fan-out, p2p or latency. The script starts the broker (mqttd
from $MQTTD_BIN or the newest build*/src/app/mqttd; Debian's mosquitto with an equivalent
configuration) on a free port, or attaches to a running one (NAME=HOST:PORT:PID), drives
it with mqttd-bench ($MQTTD_BENCH_BIN or the newest build*/perf/bench/mqttd-bench), samples
the broker's CPU time (utime+stime of /proc/PID/stat) over the measurement window and its
RSS (VmRSS of /proc/PID/status), stops everything and prints the row. --json-out FILE
appends the row as one JSON line; --series FILE writes "connections rss_kib" samples.
Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = ("connections", "fan-in", "fan-out", "p2p", "latency")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def newest(pattern):
    found = [p for p in glob.glob(os.path.join(ROOT, pattern)) if os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


def find_bench():
    return os.environ.get("MQTTD_BENCH_BIN") or newest("build*/perf/bench/mqttd-bench")


def find_mqttd():
    return os.environ.get("MQTTD_BIN") or newest("build*/src/app/mqttd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_kib(pid, key="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


class Broker:
    """A broker under test: started here (mqttd, mosquitto) or attached to (external)."""

    def __init__(self, kind, args):
        self.kind, self.args = kind, args
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="mqttd-scenario-")
        self.host, self.port, self.pid = "127.0.0.1", args.port or free_port(), None
        self.name = kind
        if "=" in kind:
            self.name, spec = kind.split("=", 1)
            host, port, pid = spec.rsplit(":", 2)
            self.host, self.port, self.pid = host, int(port), int(pid)

    def start(self):
        if self.pid:
            return self
        log = open(os.path.join(self.tmp, "broker.log"), "wb")
        if self.kind == "mqttd":
            binary = self.args.mqttd_bin or find_mqttd()
            if not binary:
                sys.exit("scenario: no mqttd binary: set MQTTD_BIN or build it (build*/src/app/mqttd)")
            conf = os.path.join(self.tmp, "mqttd.toml")
            with open(conf, "w") as f:
                f.write('log_level = "warn"\nsys_interval = 0\n')
                if self.args.workers is not None:
                    f.write("workers = %d\n" % self.args.workers)
                for kv in self.args.set or []:
                    key, _, value = kv.partition("=")
                    f.write("%s = %s\n" % (key.strip(), value.strip()))
                f.write('[[listener]]\nbind = "127.0.0.1"\nport = %d\n[http]\nenabled = false\n' % self.port)
            cmd = [binary, "--config", conf]
        elif self.kind == "mosquitto":
            binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            conf = os.path.join(self.tmp, "mosquitto.conf")
            # Equivalent to mqttd's defaults: no persistence, Nagle off, the same inflight
            # window and offline queue, per-connection output bounded, no $SYS updates.
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "set_tcp_nodelay true\nmax_inflight_messages 64\nmax_queued_messages 1000\n"
                        "max_queued_bytes 4194304\nmax_connections -1\nsys_interval 0\n"
                        "log_dest stderr\nlog_type error\nlog_type warning\n" % self.port)
            cmd = [binary, "-c", conf]
        else:
            sys.exit("scenario: unknown broker %r (mqttd, mosquitto or NAME=HOST:PORT:PID)" % self.kind)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        if not wait_port(self.port):
            self.stop()
            sys.exit("scenario: %s did not start listening on %d:\n%s" % (self.name, self.port, self.log()))
        return self

    def log(self):
        try:
            with open(os.path.join(self.tmp, "broker.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is None or self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def plan(args):
    """The mqttd-bench arguments of the scenario, and the number of clients."""
    smoke, q = args.smoke, ["-q", str(args.qos)]
    dur = ["-d", str(args.duration or (2 if smoke else 10))]
    rate = lambda per_pub, smoke_rate: (["-r", str(per_pub)] if per_pub else []) if not smoke else ["-r", str(smoke_rate)]
    if args.scenario == "connections":
        n = args.n or (200 if smoke else 100_000)
        cr = args.connect_rate if args.connect_rate is not None else (0 if smoke else 20000)
        hold = args.duration or (2 if smoke else 10)
        return ["conn", "-c", str(n), "-R", str(cr), "-d", str(hold), "-k", "120"], n
    if args.scenario == "fan-in":
        n = args.n or (5 if smoke else 100)
        return (["pubsub", "-P", str(n), "-S", "1", "-t", "fanin/%i", "-T", "fanin/#"] + q + dur +
                rate(args.rate, 200)), n + 1
    if args.scenario == "fan-out":
        n = args.n or (5 if smoke else 100)
        return (["pubsub", "-P", "1", "-S", str(n), "-t", "fanout/0", "-T", "fanout/0"] + q + dur +
                rate(args.rate, 200)), n + 1
    if args.scenario == "p2p":
        n = args.n or (5 if smoke else 1000)
        return (["pubsub", "-P", str(n), "-S", str(n), "-t", "p2p/%i", "-T", "p2p/%i"] + q + dur +
                rate(args.rate, 100)), 2 * n
    if args.scenario == "latency":
        n = args.n or (2 if smoke else 10)
        return (["pubsub", "-P", str(n), "-S", str(n), "-t", "lat/%i", "-T", "lat/%i"] + q + dur), 2 * n
    raise SystemExit("scenario: unknown scenario %r (one of %s)" % (args.scenario, ", ".join(SCENARIOS)))


def run_bench(bench, bench_args, broker, series=None, quiet=False):
    """Runs mqttd-bench, sampling the broker at its phase markers. Returns (summary, samples)."""
    out = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".json", delete=False)
    out.close()
    cmd = [bench] + bench_args + ["-H", broker.host, "-p", str(broker.port), "--json", out.name]
    samples = {"rss_start_kib": rss_kib(broker.pid), "cpu_start": cpu_seconds(broker.pid)}
    marks = {}
    lock = threading.Lock()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE,
                            text=True, bufsize=1)

    def reader():
        for line in proc.stderr:
            if line.startswith("mqttd-bench: phase "):
                phase = line.split()[-1]
                with lock:
                    marks[phase] = (time.monotonic(), cpu_seconds(broker.pid), rss_kib(broker.pid))
            elif line.startswith("[") and series is not None and "conn " in line:
                try:
                    connected = int(line.split("conn ", 1)[1].split("/", 1)[0])
                    series.append((connected, rss_kib(broker.pid)))
                except (ValueError, OSError):
                    pass
            if not quiet or not line.startswith(("[", "mqttd-bench: phase")):
                sys.stderr.write(line)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, rss_kib(broker.pid))
        except OSError:
            break
        time.sleep(0.2)
    proc.wait()
    t.join(timeout=5)
    try:
        with open(out.name) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        summary = None
    os.unlink(out.name)
    samples["marks"] = marks
    samples["rss_peak_kib"] = peak
    samples["bench_rc"] = proc.returncode
    return summary, samples


def probe_saturation(bench, bench_args, broker):
    """Delivered msgs/s of a short unlimited-rate run with the same clients."""
    args = [a for a in bench_args]
    i = args.index("-d")
    args[i + 1] = "3"
    summary, _ = run_bench(bench, args + ["--quiet", "--drain", "1"], broker, quiet=True)
    wait_idle(broker.pid)
    return summary["in_rate"] if summary else 0


def wait_idle(pid, limit=15.0):
    """Waits until the broker has worked off a backlog (under 5% CPU for half a second)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=SCENARIOS)
    ap.add_argument("--broker", default="mqttd", help="mqttd, mosquitto or NAME=HOST:PORT:PID")
    ap.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    ap.add_argument("--smoke", action="store_true", help="a few clients for a few seconds")
    ap.add_argument("--n", type=int, help="clients (connections), publishers (fan-in), "
                    "subscribers (fan-out), pairs (p2p, latency)")
    ap.add_argument("--rate", type=float, help="messages/s per publisher (default unlimited; "
                    "latency: 50%% of the measured saturation over all publishers)")
    ap.add_argument("--duration", type=float, help="seconds of publishing (connections: holding)")
    ap.add_argument("--connect-rate", type=float, help="connections: new connections/s (default 20000)")
    ap.add_argument("--port", type=int, help="port for a broker started here (default: a free one)")
    ap.add_argument("--workers", type=int, help="mqttd: worker threads")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="mqttd: a top-level configuration line, TOML value syntax "
                    "(e.g. --set recv_buffers=128 --set 'recv_buffer_size=\"4KiB\"')")
    ap.add_argument("--mqttd-bin")
    ap.add_argument("--bench-bin")
    ap.add_argument("--bench-args", default="", help="extra mqttd-bench arguments")
    ap.add_argument("--json-out", help="append the row as a JSON line to this file")
    ap.add_argument("--series", help="connections: write 'connections rss_kib' samples here")
    ap.add_argument("--header", action="store_true", help="print the column header first")
    ap.add_argument("--quiet", action="store_true", help="no live progress from mqttd-bench")
    args = ap.parse_args()

    bench = args.bench_bin or find_bench()
    if not bench:
        sys.exit("scenario: no mqttd-bench: set MQTTD_BENCH_BIN or build perf/bench/mqttd-bench")
    bench_args, clients = plan(args)
    bench_args += args.bench_args.split()
    broker = Broker(args.broker, args).start()
    series = [] if args.scenario == "connections" else None
    try:
        if args.scenario == "latency" and not args.rate:
            sat = args.rate or probe_saturation(bench, bench_args, broker)
            if args.smoke:
                sat = min(sat, 400)
            bench_args += ["--total-rate", "%.0f" % max(1, sat / 2)]
            print("scenario: saturation %.0f msgs/s delivered; latency run at %.0f msgs/s" % (sat, sat / 2),
                  file=sys.stderr)
        elif args.scenario == "latency":
            bench_args += ["-r", str(args.rate)]
        summary, samples = run_bench(bench, bench_args, broker, series, quiet=args.quiet)
        alive = broker.alive()
    finally:
        broker.stop()
    if summary is None:
        sys.exit("scenario: mqttd-bench produced no summary (exit %s)%s" %
                 (samples["bench_rc"], "" if alive else "; the broker died:\n" + broker.log()))

    marks = samples["marks"]
    run_mark = marks.get("run")
    end_mark = marks.get("drain") or marks.get("stop")
    cpu = (end_mark[1] - run_mark[1]) if run_mark and end_mark else 0.0
    delivered = summary["received_in_run"]
    connected = summary["connected"]
    row = {
        "scenario": args.scenario, "qos": args.qos, "broker": broker.name, "clients": clients,
        "connected": connected, "delivered_per_s": round(summary["in_rate"], 1),
        "published_per_s": round(summary["out_rate"], 1),
        "broker_cpu_s": round(cpu, 3),
        "cpu_s_per_million": round(cpu / delivered * 1e6, 3) if delivered else None,
        "rss_kib": (run_mark[2] if args.scenario == "connections" and run_mark else samples["rss_peak_kib"]),
        "rss_start_kib": samples["rss_start_kib"],
        "p50_us": summary["latency_us"]["p50"], "p99_us": summary["latency_us"]["p99"],
        "p999_us": summary["latency_us"]["p999"],
        "lost": summary["lost"], "duplicates": summary["duplicates"],
        "errors": summary["connect_errors"] + summary["disconnects"] + summary["protocol_errors"],
        "tool_cpu_percent": summary["tool_cpu_percent"], "connect_s": summary["connect_s"],
        "broker_alive": alive,
    }
    if args.scenario == "connections":
        # Connection set-up cost: broker CPU from start until everyone was connected.
        row["broker_cpu_s"] = round(run_mark[1] - samples["cpu_start"], 3) if run_mark else 0
        row["cpu_s_per_million"] = None
    per_conn = (row["rss_kib"] - row["rss_start_kib"]) / connected if connected else 0
    row["rss_per_conn_kib"] = round(per_conn, 2)

    if args.header:
        print("%-11s %3s %-10s %8s %9s %11s %9s %9s %10s %9s %9s %7s %6s %5s" % (
            "scenario", "qos", "broker", "clients", "connected", "deliv/s", "cpu-s/M", "rss-MiB",
            "KiB/conn", "p50-us", "p99-us", "lost", "errors", "tool%"))
    fmt = lambda v, spec: ("-" if v is None else spec % v)
    print("%-11s %3d %-10s %8d %9d %11s %9s %9.1f %10.2f %9s %9s %7d %6d %5.0f" % (
        row["scenario"], row["qos"], row["broker"][:10], row["clients"], connected,
        fmt(row["delivered_per_s"], "%.0f"), fmt(row["cpu_s_per_million"], "%.2f"), row["rss_kib"] / 1024,
        row["rss_per_conn_kib"], fmt(row["p50_us"], "%.0f"), fmt(row["p99_us"], "%.0f"), row["lost"],
        row["errors"], row["tool_cpu_percent"]))
    sys.stdout.flush()
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(row) + "\n")
    if args.series and series is not None:
        with open(args.series, "w") as f:
            f.write("# connections rss_kib (%s)\n" % broker.name)
            for c, r in series:
                f.write("%d %d\n" % (c, r))
    return 0 if alive and summary["connected"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
