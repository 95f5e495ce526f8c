#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds mqttd (release) and runs it on 0.0.0.0:1883
# with the default configuration (mqttd.example.toml). Ctrl-C stops it cleanly.
# Extra arguments go to mqttd, e.g. scripts/run.sh --workers 4 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=release -Dtests=false
fi
ninja -C build src/app/mqttd
exec build/src/app/mqttd --config mqttd.example.toml "$@"
