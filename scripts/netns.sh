#!/usr/bin/env bash
# Network namespaces for running rdmq's roles apart on one machine, so that
# UCX between them goes over TCP on veth pairs (no shared memory, no CMA).
#
#   scripts/netns.sh up N     namespaces rdmq-ns0 .. rdmq-ns<N-1>, each with eth0 at
#                             10.213.0.<10+i>/24 on a veth pair to the bridge rdmqbr0,
#                             whose host side is 10.213.0.1 (the host reaches every member)
#   scripts/netns.sh down     removes every rdmq-ns* namespace and the bridge
#   scripts/netns.sh list     the namespaces and their addresses
#
# RDMQ_NETNS_MTU sets the links' MTU (default 1500, an ordinary Ethernet).
# Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN). `up` is idempotent. Run a
# command in one: ip netns exec rdmq-ns0 CMD. The names and subnet are the
# ones cli/cluster-plan.ts assumes (NETNS_PREFIX, NETNS_SUBNET).
set -euo pipefail

PREFIX=rdmq-ns
BRIDGE=rdmqbr0
SUBNET=10.213.0
MAX=50
MTU=${RDMQ_NETNS_MTU:-1500}

die() { echo "netns.sh: $*" >&2; exit 2; }

up() {
  local n=$1
  [[ "$n" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= MAX )) || die "up takes a count 1..$MAX, got '$n'"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" mtu "$MTU" up
  # Bridged frames must not be filtered by iptables (br_netfilter), or namespaces cannot talk.
  if [[ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables; fi
  for ((i = 0; i < n; i++)); do
    local ns="$PREFIX$i" veth="rdmqv$i"
    if ! ip netns list | grep -qw "^$ns"; then
      ip netns add "$ns"
    fi
    ip netns exec "$ns" ip link set lo up
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip link set "$veth" master "$BRIDGE"
      ip netns exec "$ns" ip addr add "$SUBNET.$((10 + i))/24" dev eth0
    fi
    ip link set "$veth" mtu "$MTU" up
    ip netns exec "$ns" ip link set eth0 mtu "$MTU" up
  done
}

down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX[0-9]*$" || true); do
    # Whatever still runs inside is ended first: a namespace with processes lingers.
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n "$pids" ]]; then kill -KILL $pids 2>/dev/null || true; fi
    ip netns del "$ns" || true
  done
  for veth in $(ip -o link show | awk -F': ' '{print $2}' | grep '^rdmqv[0-9]*' | cut -d@ -f1 || true); do
    ip link del "$veth" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
}

list() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX[0-9]*$" || true); do
    echo "$ns $(ip netns exec "$ns" ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')"
  done
}

case "${1:-}" in
  up) [[ $# -eq 2 ]] || die "usage: netns.sh up N"; up "$2" ;;
  down) down ;;
  list) list ;;
  *) die "usage: netns.sh up N | down | list" ;;
esac
