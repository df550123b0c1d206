#!/usr/bin/env bash
# Starts or stops banger's three daemons as background processes, for machines without
# systemd (containers, CI). With systemd, use deploy/systemd instead. As under the units,
# privhelper runs as root and vmd and imaged as the unprivileged `banger` user (run
# `banger system install` first: it creates the user, the config and the directory layout).
#   scripts/daemons.sh start|stop|status
# Logs: $BANGER_LOG_DIR (default /var/log/banger)/<daemon>.log (JSON lines), opened by this
# script as root in a root-owned directory and inherited by the daemon.
# Pids: $BANGER_PID_DIR (default /run/banger-daemons, root's)/<daemon>.pid; stop ends exactly
# those pids, nothing else. (Not in the run directory: it is group-writable, and root writing
# a pid file there could be pointed elsewhere.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run_dir=${BANGER_RUN_DIR:-/run/banger}
log_dir=${BANGER_LOG_DIR:-/var/log/banger}
daemons=(privhelper imaged vmd)

pid_dir=${BANGER_PID_DIR:-/run/banger-daemons}

alive() { [ -f "$pid_dir/$1.pid" ] && kill -0 "$(cat "$pid_dir/$1.pid")" 2>/dev/null; }

# vmd and imaged drop to the banger user before exec, with its groups only.
launcher() {
  if [ "$1" = privhelper ]; then return; fi
  echo setpriv --reuid=banger --regid=banger --init-groups -- env HOME=/nonexistent
}

start() {
  if ! id banger >/dev/null 2>&1; then
    echo "there is no banger user: run 'banger system install' first (node clients/cli/bin/banger.mjs system install)" >&2
    exit 1
  fi
  install -d -m 0755 -o root -g root "$log_dir" "$pid_dir"
  for d in "${daemons[@]}"; do
    # Root opens the log: never through a link or a file another uid left there (older layouts
    # had this directory owned by banger).
    log="$log_dir/$d.log"
    if [ -L "$log" ] || { [ -e "$log" ] && [ "$(stat -c %u "$log")" != 0 ]; }; then rm -f "$log"; fi
    if alive "$d"; then echo "$d already running (pid $(cat "$pid_dir/$d.pid"))"; continue; fi
    # setsid: the daemons (and the VMs they launch) do not belong to this shell's session.
    # shellcheck disable=SC2046 # the launcher prefix is meant to split into words
    setsid $(launcher "$d") node "$root/services/$d/bin/$d.mjs" >>"$log_dir/$d.log" 2>&1 </dev/null &
    echo $! >"$pid_dir/$d.pid"
    for _ in $(seq 1 100); do
      [ -S "$run_dir/$d.sock" ] && break
      alive "$d" || { echo "$d failed to start; last log lines:"; tail -n 20 "$log_dir/$d.log"; exit 1; }
      sleep 0.1
    done
    echo "$d started (pid $(cat "$pid_dir/$d.pid"), log $log_dir/$d.log)"
  done
}

stop() {
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    d=${daemons[$i]}
    if alive "$d"; then
      pid=$(cat "$pid_dir/$d.pid")
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "$d stopped"
    fi
    rm -f "$pid_dir/$d.pid"
  done
}

status() {
  for d in "${daemons[@]}"; do
    if alive "$d"; then echo "$d: running (pid $(cat "$pid_dir/$d.pid"))"; else echo "$d: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
