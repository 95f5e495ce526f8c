#!/usr/bin/env bash
# Runs one scenario against mqttd and against Mosquitto (and any --broker NAME=HOST:PORT:PID),
# one after the other, prints a table, and writes results.jsonl, results.csv and a PNG.
#
#   perf/compare.sh SCENARIO [--qos 0|1] [--smoke] [--n N] [--rate R] [--duration S]
#                   [--workers N] [--set KEY=VALUE]... (mqttd configuration)
#                   [--broker NAME=HOST:PORT:PID]... [--no-mqttd] [--no-mosquitto]
#                   [--out DIR] [-- extra scenario.py options]
#
# SCENARIO: connections, fan-in, fan-out, p2p, latency. mqttd comes from $MQTTD_BIN or the
# newest build*/src/app/mqttd, mqttd-bench from $MQTTD_BENCH_BIN or build*/perf/bench.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
scenario=${1:-}
if [[ -z "$scenario" || "$scenario" == -h || "$scenario" == --help ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
shift
brokers=(mqttd mosquitto)
extra_brokers=()
opts=()
out=""
qos=0
while (($#)); do
  case "$1" in
    --broker) extra_brokers+=("$2"); shift 2 ;;
    --no-mqttd) brokers=("${brokers[@]/mqttd}"); shift ;;
    --no-mosquitto) brokers=("${brokers[@]/mosquitto}"); shift ;;
    --out) out=$2; shift 2 ;;
    --qos) qos=$2; opts+=(--qos "$2"); shift 2 ;;
    --smoke) opts+=(--smoke); shift ;;
    --n|--rate|--duration|--connect-rate|--workers|--set) opts+=("$1" "$2"); shift 2 ;;
    --) shift; opts+=("$@"); break ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
out=${out:-${MQTTD_PERF_RESULTS:-/tmp/mqttd-perf}/$(date +%Y%m%d-%H%M%S)-$scenario-qos$qos}
mkdir -p "$out"
jsonl=$out/results.jsonl
: > "$jsonl"

header=--header
status=0
for b in "${brokers[@]}" "${extra_brokers[@]}"; do
  [[ -z "$b" ]] && continue
  name=${b%%=*}
  series=()
  [[ "$scenario" == connections ]] && series=(--series "$out/series-$name.dat")
  if ! python3 "$here/scenarios/scenario.py" "$scenario" --broker "$b" --quiet $header \
       --json-out "$jsonl" "${series[@]}" "${opts[@]}"; then
    echo "compare.sh: $scenario against $name failed" >&2
    status=1
  fi
  header=""
done

# CSV and the gnuplot data (one line per broker).
python3 - "$jsonl" "$out" <<'PY'
import csv, json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit(0)
keys = list(rows[0].keys())
with open(sys.argv[2] + "/results.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
with open(sys.argv[2] + "/plot.dat", "w") as f:
    f.write("# broker delivered_per_s p50_us p99_us p999_us cpu_s_per_million rss_mib rss_per_conn_kib connected\n")
    for r in rows:
        f.write('"%s" %s %s %s %s %s %.1f %s %s\n' % (
            r["broker"], r["delivered_per_s"], r["p50_us"] or 0, r["p99_us"] or 0, r["p999_us"] or 0,
            r["cpu_s_per_million"] or 0, r["rss_kib"] / 1024.0, r["rss_per_conn_kib"], r["connected"]))
PY

if command -v gnuplot >/dev/null && [[ -s "$out/plot.dat" ]]; then
  png=$out/$scenario-qos$qos.png
  if [[ "$scenario" == connections ]]; then
    plots=""
    for f in "$out"/series-*.dat; do
      [[ -s "$f" ]] || continue
      n=$(basename "$f" .dat); n=${n#series-}
      plots+="${plots:+, }'$f' using 1:(\$2/1024) with linespoints title '$n'"
    done
    gnuplot <<GP
set terminal pngcairo size 1200,500 noenhanced
set output '$png'
set multiplot layout 1,2 title 'connections: broker memory'
set xlabel 'connections'; set ylabel 'RSS (MiB)'; set grid; set key left top
plot $plots
set style data histograms; set style fill solid 0.7; set boxwidth 0.6
set xlabel ''; set ylabel 'KiB per connection'; set yrange [0:*]
plot '$out/plot.dat' using 8:xtic(1) title 'RSS per connection'
unset multiplot
GP
  else
    gnuplot <<GP
set terminal pngcairo size 1500,500 noenhanced
set output '$png'
set multiplot layout 1,3 title '$scenario, QoS $qos'
set style data histograms; set style fill solid 0.7; set grid ytics; set yrange [0:*]; set key below
set ylabel 'delivered messages/s'
plot '$out/plot.dat' using 2:xtic(1) title 'delivered/s'
set ylabel 'broker CPU-seconds per million delivered'
plot '$out/plot.dat' using 6:xtic(1) title 'CPU-s / M'
set style histogram clustered gap 1; set logscale y; set yrange [*:*]
set ylabel 'end-to-end latency (us)'
plot '$out/plot.dat' using 3:xtic(1) title 'p50', '' using 4 title 'p99', '' using 5 title 'p99.9'
unset multiplot
GP
  fi
  echo "compare.sh: wrote $png"
fi
echo "compare.sh: results in $out (results.jsonl, results.csv)"
exit $status
