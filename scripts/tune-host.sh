#!/usr/bin/env bash
# Host settings for very large connection counts (mqttd and mqttd-bench on one host):
# listen backlogs, the ephemeral port range, file limits, socket memory. Prints each
# setting it changed and each it could not change, and why. Needs root; changes are
# not persistent (write them to /etc/sysctl.d/ to keep them).
#   scripts/tune-host.sh [--dry-run]
set -u
dry=0
[[ "${1:-}" == --dry-run ]] && dry=1
changed=0
failed=0

set_sysctl() {  # key value
  local key=$1 want=$2 path=/proc/sys/${1//.//} have
  if [[ ! -e "$path" ]]; then
    echo "  skip    $key: not present on this kernel (or not in this network namespace)"
    return
  fi
  have=$(tr -s '\t ' ' ' < "$path")
  if [[ "$have" == "$want" ]]; then
    echo "  ok      $key = $want"
    return
  fi
  # Never lower a single-number limit that is already higher.
  if [[ "$want" =~ ^[0-9]+$ && "$have" =~ ^[0-9]+$ ]] && ((have > want)); then
    echo "  ok      $key = $have (above $want)"
    return
  fi
  if ((dry)); then
    echo "  would   $key: $have -> $want"
    return
  fi
  if echo "$want" > "$path" 2>/dev/null; then
    echo "  changed $key: $have -> $want"
    changed=$((changed + 1))
  else
    echo "  FAILED  $key stays $have (wanted $want): read-only here (container without" \
         "privileges, or not root)"
    failed=$((failed + 1))
  fi
}

echo "sysctls:"
set_sysctl net.core.somaxconn 65535
set_sysctl net.ipv4.tcp_max_syn_backlog 65535
set_sysctl net.core.netdev_max_backlog 65536
# Every source address gives a client ~64K ports towards one broker port; mqttd-bench
# spreads clients over 127.0.0.x to go beyond.
set_sysctl net.ipv4.ip_local_port_range "1024 65535"
set_sysctl fs.file-max 4194304
set_sysctl fs.nr_open 4194304
# TCP memory in pages (min, pressure, max): 1M idle connections need far more than the
# default's few percent of RAM before the kernel starts collapsing buffers.
pages=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 4 ))
set_sysctl net.ipv4.tcp_mem "$((pages / 8)) $((pages / 4)) $((pages / 2))"
set_sysctl net.ipv4.tcp_max_orphans 1048576
set_sysctl net.netfilter.nf_conntrack_max 4194304

echo "limits:"
soft=$(ulimit -Sn) hard=$(ulimit -Hn)
if ((hard < 1048576)); then
  echo "  FAILED  RLIMIT_NOFILE hard limit is $hard: a process cannot raise it; raise it where" \
       "the process starts (systemd LimitNOFILE=, docker --ulimit nofile=, /etc/security/limits.conf)."
  echo "          mqttd and mqttd-bench hold connections as io_uring direct descriptors, so" \
       "they only need (connections / rings) per ring; Mosquitto needs one fd per connection" \
       "and stops at $hard."
  failed=$((failed + 1))
else
  echo "  ok      RLIMIT_NOFILE soft $soft, hard $hard (raise the soft limit with ulimit -n $hard)"
fi
echo "$changed changed, $failed could not be changed"
