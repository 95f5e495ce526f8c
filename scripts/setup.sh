#!/usr/bin/env bash
# Installs what mqttd needs to build, test and benchmark, from Debian 12's archive only.
# Idempotent and non-interactive: packages already present are not fetched again.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --dev    also clang (fuzzing), perf and valgrind (profiling)
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config cmake
  liburing-dev libmimalloc-dev libconcurrentqueue-dev libtomlplusplus-dev
  doctest-dev libbenchmark-dev
  python3 python3-paho-mqtt python3-pytest python3-yaml python3-seccomp
  mosquitto mosquitto-clients gnuplot-nox procps iproute2
)
if [[ "${1:-}" == "--dev" ]]; then
  packages+=(clang lld libclang-rt-14-dev linux-perf valgrind)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  # Debian starts a mosquitto service on port 1883 when the package is installed; we
  # only need its binary (perf comparisons), so keep installs from starting services.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
    $SUDO chmod +x $policy
    trap "$SUDO rm -f $policy" EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# A mosquitto service left running from an earlier install would hold port 1883.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  echo "setup: note: the mosquitto service is running and holds port 1883;" \
       "stop it (systemctl disable --now mosquitto) to run mqttd on 1883"
fi
