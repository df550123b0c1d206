#!/bin/bash
# Tiny guest (integration/harness/tinyguest.ts cache), 256 MiB, TCG, no jail: anonymous RAM vs RAM on a
# share=on file on disk, saved with full RAM vs x-ignore-shared (docs/snapshots.md). Run as root.
# Q: a QMP client taking a socket and JSON commands (the project's shared probes/qmpc.py).
set -u
T=/var/cache/banger/test/tinyguest; Q=${Q:?set Q to a QMP client script}; D=${D:-/tmp/memprobe}; mkdir -p "$D"
K=$(ls "$T"/vmlinuz-* | head -1); I=$T/initrd.cpio.gz
boot() { # $1 label, rest extra args
  local label=$1; shift; rm -f $D/c.log $D/q.sock; local t0=$(date +%s.%N)
  qemu-system-x86_64 -M microvm${MB:-} -accel tcg,tb-size=64 -cpu max -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -kernel $K -initrd $I -append "console=ttyS0 panic=-1 tsc_early_khz=2445404" -serial file:$D/c.log -qmp unix:$D/q.sock,server=on,wait=off "$@" -daemonize -pidfile $D/q.pid
  until grep -q TINYGUEST-READY $D/c.log 2>/dev/null; do sleep 0.05; done
  echo "$label boot->ready $(echo "$(date +%s.%N) - $t0" | bc) s"
}
save() { # $1 label $2 caps(true/false)
  rm -f $D/state.bin; local t=$(date +%s.%N)
  python3 $Q $D/q.sock '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":'$2'}]}}' '{"execute":"stop"}' '{"execute":"migrate","arguments":{"uri":"exec:cat > '$D'/state.bin"}}' '{"execute":"wait-migration"}' >/dev/null
  echo "$1 save $(echo "$(date +%s.%N) - $t" | bc) s, state $(stat -c %s $D/state.bin) bytes"
  python3 $Q $D/q.sock '{"execute":"quit"}' >/dev/null 2>&1; sleep 0.5
}
boot anon-ram; sleep 3; save anon-fullram false
rm -f $D/ram.file; MB=,memory-backend=ram0 boot file-ram-on-disk -object memory-backend-file,id=ram0,size=256M,mem-path=$D/ram.file,share=on; sleep 3; save file-ram-x-ignore-shared true
rm -f $D/ram.file; MB=,memory-backend=ram0 boot file-ram-on-disk -object memory-backend-file,id=ram0,size=256M,mem-path=$D/ram.file,share=on; sleep 3; save file-ram-fullram false
rm -f $D/ram.file
