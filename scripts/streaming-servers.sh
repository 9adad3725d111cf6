#!/usr/bin/env bash
# Install the message servers behind the emulated S3M streaming clusters: Debian's redis-server (or
# valkey-server, the Redis fork, where the release has no redis-server) and rabbitmq-server (with
# Erlang's epmd). The emulator starts a private server per cluster itself; this script only
# installs the programs, and keeps Debian's own services from starting.
#
#   bash scripts/streaming-servers.sh install   # as root, where a program is missing (default)
#   bash scripts/streaming-servers.sh check     # exit 0 when everything is there
#
# Exit codes: 0 installed (or already there), 3 missing and not installable here (not root, or
# apt-get failed).
set -euo pipefail

log() { echo "streaming-servers: $*" >&2; }

present() {
  { command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1; } \
    && { [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; } \
    && { command -v epmd >/dev/null 2>&1 || [ -x /usr/lib/erlang/bin/epmd ]; }
}

install() {
  if present; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "redis-server or rabbitmq-server is missing, and only root with apt-get can install them"
    return 3
  fi
  log "installing Debian's redis-server (or valkey-server) and rabbitmq-server"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's packages start their services on install; the emulator runs servers of its own,
  # so deny every service start for the length of the install (policy-rc.d answers 101).
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local status=0
  local redis=redis-server
  if apt-get update -qq; then
    # A release without Debian's redis-server ships the Redis fork valkey-server instead.
    if ! apt-cache show redis-server >/dev/null 2>&1 && apt-cache show valkey-server >/dev/null 2>&1; then
      redis=valkey-server
    fi
    apt-get install -y -qq "$redis" rabbitmq-server >/dev/null || status=$?
  else
    status=$?
  fi
  if [ -n "$made_policy" ]; then
    rm -f "$policy"
  fi
  if [ "$status" != 0 ] || ! present; then
    log "apt-get could not install $redis and rabbitmq-server"
    return 3
  fi
}

case "${1:-install}" in
  install) install ;;
  check) present || exit 3 ;;
  *) echo "usage: $0 [install|check]" >&2; exit 2 ;;
esac
