"""Every perf scenario in its --smoke size against a started mqttd: the scenario must
produce its row, with every client connected and nothing lost, duplicated or in error.
Drives perf/scenarios/scenario.py with --broker NAME=HOST:PORT:PID, so the broker is the
one conftest starts (MQTTD_BIN) and mqttd-bench is MQTTD_BENCH_BIN."""

import json
import os
import subprocess
import sys

import pytest

from conftest import SOURCE_ROOT

SCENARIO = os.path.join(SOURCE_ROOT, "perf", "scenarios", "scenario.py")
BENCH = os.environ.get("MQTTD_BENCH_BIN")

pytestmark = pytest.mark.skipif(not BENCH or not os.path.exists(BENCH),
                                reason="MQTTD_BENCH_BIN not set (mqttd-bench not built)")


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("scenario", ["connections", "fan-in", "fan-out", "p2p", "latency"])
def test_scenario_smoke(make_broker, tmp_path, scenario, qos):
    if scenario == "connections" and qos == 1:
        pytest.skip("connections carries no messages")
    broker = make_broker(workers=2)
    out = tmp_path / "row.jsonl"
    cmd = [sys.executable, SCENARIO, scenario, "--smoke", "--qos", str(qos), "--quiet",
           "--broker", "mqttd=127.0.0.1:%d:%d" % (broker.port, broker.proc.pid),
           "--bench-bin", BENCH, "--json-out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "scenario failed (%d)\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(rows) == 1, r.stdout + r.stderr
    row = rows[0]
    assert row["scenario"] == scenario and row["broker"] == "mqttd"
    assert row["broker_alive"], broker.read_log()
    assert row["connected"] == row["clients"], row
    assert row["errors"] == 0, row
    if scenario != "connections":
        assert row["delivered_per_s"] > 0, row
        assert row["lost"] == 0, row
        assert row["duplicates"] == 0, row
        assert row["p99_us"] > 0, row
    assert broker.proc.poll() is None, "mqttd died:\n" + broker.read_log()
