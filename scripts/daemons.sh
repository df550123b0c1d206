#!/usr/bin/env bash
# Starts or stops banger's three daemons as background processes, for machines without
# systemd (containers, CI). With systemd, use deploy/systemd instead.
#   scripts/daemons.sh start|stop|status
# Logs: $BANGER_LOG_DIR (default /var/log/banger)/<daemon>.log (JSON lines).
# Pids: <run_dir>/<daemon>.pid; stop ends exactly those pids, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run_dir=${BANGER_RUN_DIR:-/run/banger}
log_dir=${BANGER_LOG_DIR:-/var/log/banger}
daemons=(privhelper imaged vmd)

alive() { [ -f "$run_dir/$1.pid" ] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }

start() {
  mkdir -p "$run_dir" "$log_dir"
  for d in "${daemons[@]}"; do
    if alive "$d"; then echo "$d already running (pid $(cat "$run_dir/$d.pid"))"; continue; fi
    # setsid: the daemons (and the VMs they launch) do not belong to this shell's session.
    setsid node "$root/services/$d/bin/$d.mjs" >>"$log_dir/$d.log" 2>&1 </dev/null &
    echo $! >"$run_dir/$d.pid"
    for _ in $(seq 1 100); do
      [ -S "$run_dir/$d.sock" ] && break
      alive "$d" || { echo "$d failed to start; last log lines:"; tail -n 20 "$log_dir/$d.log"; exit 1; }
      sleep 0.1
    done
    echo "$d started (pid $(cat "$run_dir/$d.pid"), log $log_dir/$d.log)"
  done
}

stop() {
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    d=${daemons[$i]}
    if alive "$d"; then
      pid=$(cat "$run_dir/$d.pid")
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "$d stopped"
    fi
    rm -f "$run_dir/$d.pid"
  done
}

status() {
  for d in "${daemons[@]}"; do
    if alive "$d"; then echo "$d: running (pid $(cat "$run_dir/$d.pid"))"; else echo "$d: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
