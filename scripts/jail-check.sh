#!/usr/bin/env bash
# Checks a running VM's QEMU from outside, as the host kernel sees it (issue 12, part 2):
#   bash scripts/jail-check.sh VM_NAME
# Prints each check and exits non-zero when any fails. Needs root (reads /proc/<pid>).
set -euo pipefail
name=${1:?usage: jail-check.sh VM_NAME}
here=$(cd "$(dirname "$0")/.." && pwd)
banger() { if type -P banger >/dev/null 2>&1; then command banger "$@"; else node "$here/clients/cli/bin/banger.mjs" "$@"; fi; }
pid=$(banger vm show "$name" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log((v.vm??v).pid??0)})')
[[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 0 ]] || { echo "vm $name has no QEMU pid (is it running?)" >&2; exit 1; }
status=/proc/$pid/status
field() { awk -v k="$1:" '$1==k {print $2}' "$status"; }
fail=0
check() { # label, ok(0/1), value
  if [[ $2 == 1 ]]; then printf '  ok    %-34s %s\n' "$1" "$3"; else printf '  FAIL  %-34s %s\n' "$1" "$3"; fail=1; fi
}
uid=$(field Uid)
check "uid is not root" "$([[ $uid != 0 ]] && echo 1 || echo 0)" "Uid $uid"
check "seccomp filter" "$([[ $(field Seccomp) == 2 ]] && echo 1 || echo 0)" "Seccomp $(field Seccomp)"
check "no effective capabilities" "$([[ $(field CapEff) =~ ^0+$ ]] && echo 1 || echo 0)" "CapEff $(field CapEff)"
check "empty bounding set" "$([[ $(field CapBnd) =~ ^0+$ ]] && echo 1 || echo 0)" "CapBnd $(field CapBnd)"
check "no_new_privs" "$([[ $(field NoNewPrivs) == 1 ]] && echo 1 || echo 0)" "NoNewPrivs $(field NoNewPrivs)"
for ns in mnt net ipc uts; do
  mine=$(readlink /proc/self/ns/$ns); theirs=$(readlink /proc/$pid/ns/$ns)
  check "own $ns namespace" "$([[ $mine != "$theirs" ]] && echo 1 || echo 0)" "$theirs"
done
mem=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3} $1 == "0" {print $3}' /proc/$pid/cgroup | head -n1)
limit=$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$mem/memory.max" 2>/dev/null || echo max)
check "memory limit" "$([[ $limit =~ ^[0-9]+$ && $limit -lt 9000000000000000000 ]] && echo 1 || echo 0)" "$limit bytes ($mem)"
root_entries=$(ls /proc/$pid/root | tr '\n' ' ')
check "root holds no host /etc" "$([[ ! -e /proc/$pid/root/etc/shadow ]] && echo 1 || echo 0)" "/ = $root_entries"
exit $fail
