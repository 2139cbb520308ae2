#!/usr/bin/env bash
# `docker-daemon.sh start DIR`: make sure a Docker daemon answers, installing Debian's docker.io and
# starting dockerd if this machine can (root, apt); exit 3 with the reason when it cannot.
# `docker-daemon.sh stop DIR`: stop the daemon only if `start` started it.
set -uo pipefail
action=$1
dir=$2
mkdir -p "$dir"
pidfile="$dir/dockerd.pid"

cannot() { echo "sam-local: SKIPPED: no Docker daemon can be started here: $*" >&2; exit 3; }

case "$action" in
start)
  if docker info >/dev/null 2>&1; then exit 0; fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || cannot "docker.io/debootstrap are not installed and this is not root"
    command -v apt-get >/dev/null 2>&1 || cannot "docker.io/debootstrap are not installed and there is no apt-get"
    echo "sam-local: installing docker.io, debootstrap and iproute2 (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap iproute2; } \
      >"$dir/apt.log" 2>&1 || cannot "apt-get install failed: $(tail -3 "$dir/apt.log")"
  fi
  command -v docker >/dev/null 2>&1 || cannot "no docker client"
  [ "$(id -u)" = 0 ] || cannot "dockerd needs root"
  echo "sam-local: starting dockerd (log: $dir/dockerd.log)"
  nohup dockerd >"$dir/dockerd.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then exit 0; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 1
  done
  kill "$(cat "$pidfile")" 2>/dev/null
  rm -f "$pidfile"
  cannot "dockerd did not come up: $(tail -3 "$dir/dockerd.log")"
  ;;
stop)
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null && for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$pidfile"
  echo "sam-local: stopped the dockerd it started"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
