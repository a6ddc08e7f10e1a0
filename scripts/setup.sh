#!/usr/bin/env bash
# Installs whatever rdmq needs and is missing, then builds it:
#   1. native system packages (UCX, libpmem2) through apt when running as root,
#      otherwise prints the exact command and stops;
#   2. npm dependencies (which builds the native addon through node-gyp);
#   3. the TypeScript build into dist/.
# Each step is skipped when its result is already up to date, so running it
# before every `npm start` / `npm test` costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'rdmq setup: %s\n' "$*" >&2; }

APT_PACKAGES=(libucx-dev libpmem2-dev ucx-utils pkg-config kcat python3-kafka python3-confluent-kafka golang-go golang-github-shopify-sarama-dev docker-compose etcd-server etcd-client iproute2 openssl)

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
  done
}

missing=$(missing_packages)
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing system packages: $missing"
    say "install them with:  sudo apt-get update && sudo apt-get install -y $missing"
    exit 1
  fi
  say "installing system packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >&2
fi

# npm dependencies: reinstall when package.json or the lock file changed.
stamp=node_modules/.rdmq-deps-stamp
deps_hash=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
  if [ -f package-lock.json ]; then
    say "installing npm dependencies (npm ci; this builds the native addon)"
    npm ci --no-audit --no-fund >&2
  else
    say "installing npm dependencies (npm install; this builds the native addon)"
    npm install --no-audit --no-fund >&2
  fi
  deps_hash=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
  echo "$deps_hash" > "$stamp"
fi

# Native addon: rebuild when its sources are newer than the binary.
addon=build/Release/rdmq_native.node
if [ ! -f "$addon" ] || [ -n "$(find addon/src binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  say "building the native addon"
  npm run --silent build:addon >&2
fi

# TypeScript: tsc is incremental enough for a project of this size.
if [ ! -d dist ] || [ -n "$(find addon broker bench chaos cli compat-tests control-plane format gateway rdma-client storage-node tsconfig.json \
      -name '*.ts' -newer dist/.build-stamp 2>/dev/null | head -1)" ] || [ ! -f dist/.build-stamp ] \
   || [ -n "$(find . -path ./node_modules -prune -o -path ./dist -prune -o -name '*.proto' -newer dist/.build-stamp -print 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  rm -rf dist
  npx tsc -p tsconfig.json
  touch dist/.build-stamp
fi
