#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: install what is missing, build, start
# the three daemons on the embedded database, build the default image (with progress),
# create a VM, run a command in it, and show it.
#
# VM networking: by default the demo keeps the bridge, taps, NAT and the VMs in a network
# namespace named `banger` so it leaves the host's own networking alone; set
# BANGER_DEMO_HOST_NETWORK=1 to put the bridge on the host (then `ssh` and NAME.vm work
# directly from the host shell).
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=${NO_COLOR:-}

step() { printf '\n==> %s\n' "$*"; }

step "installing host packages (qemu, debootstrap, nftables, ...)"
bash scripts/install-deps.sh

step "installing node dependencies, building (native addon, compiled bundles), pruning to runtime dependencies"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
# What a production install keeps: the launchers run the compiled bundles, nothing from the
# dev dependencies (tsx, esbuild, node-gyp, vitest) is needed at run time.
npm prune --omit=dev --no-audit --no-fund --loglevel=error

banger() { node clients/cli/bin/banger.mjs "$@"; }

step "installing banger as the system would run it (user banger, config, directory layout)"
# The same as on a systemd host, minus starting units: privhelper runs as root and vmd and
# imaged as the unprivileged banger user, in root-owned directories (docs/trust-model.md).
banger system install
config=/etc/banger/config.toml
if [ "${BANGER_DEMO_HOST_NETWORK:-0}" != 1 ] && ! grep -q '^\[network\]' "$config"; then
  printf '\n[network]\n# Written by scripts/demo.sh: VM networking lives in this namespace.\nnetns = "banger"\n' >>"$config"
fi
if grep -q '^netns = "banger"' "$config" && ! ip netns list | awk '{print $1}' | grep -qx banger; then
  ip netns add banger
  ip -n banger link set lo up
fi


step "starting privhelper (root), imaged and vmd (user banger), embedded database under /var/lib/banger"
bash scripts/daemons.sh start

step "checking the host"
banger doctor || true

step "building the default image (debian-bookworm: kernel, initramfs, rootfs, opencode)"
banger image build debian-bookworm

if banger vm show dev >/dev/null 2>&1; then
  step "a VM named dev exists already; deleting it for a fresh run"
  banger vm delete dev --force
fi

step "creating a VM"
banger vm create --name dev | tee /tmp/banger-demo-create.log
op_id=$(grep -o 'op-[a-z2-7]\{12\}' /tmp/banger-demo-create.log | head -n 1)

step "running a command in it"
banger vm exec dev -- uname -a
banger vm exec dev -- sh -c 'echo "hello from $(hostname), $(nproc) vCPU, $(free -m | awk "/Mem/ {print \$2}") MiB"'

step "what is running"
banger vm list
banger vm ports dev

step "ssh into it (through vmd and privhelper: the VMs live in a network namespace) and reach opencode on host loopback"
banger vm ssh dev -- uname -n
oc_port=$(banger vm show dev --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const f=(JSON.parse(s).vm.forwards||[]).find(x=>x.guestPort===4096);process.stdout.write(f&&!f.problem?String(f.hostPort):"")})')
if [ -z "$oc_port" ]; then
  oc_port=$(banger vm forward dev 4096:14096 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(String(JSON.parse(s).forward.hostPort)))')
fi
echo "opencode forwarded to http://127.0.0.1:${oc_port}/ ; it answers (401 without the password from banger vm show dev --secrets):"
node -e 'require("http").get(process.argv[1],{timeout:180000},r=>{console.log("  HTTP "+r.statusCode);process.exit(0)}).on("error",e=>{console.log("  no answer: "+e.message);process.exit(0)}).on("timeout",function(){console.log("  no answer yet: opencode answers its first request slowly under emulation");process.exit(0)})' "http://127.0.0.1:${oc_port}/"

step "how its QEMU is jailed (privhelper's view, then the host kernel's, checked)"
banger vm show dev | grep -E '^(pid|jail) '
bash scripts/jail-check.sh dev

cat <<EOM

The create was operation ${op_id:-?}: replay it with   banger ops show ${op_id:-OP_ID}
grep it across the three daemons' logs:               grep ${op_id:-OP_ID} /var/log/banger/*.log

Get a shell:     banger vm ssh dev      (works in every network mode; banger ssh-config for plain ssh)
Open opencode:   http://127.0.0.1:${oc_port:-4096}/  (user opencode; password: banger vm show dev --secrets)
Run commands:    banger vm exec dev -- CMD ARGS...
Clean up:        banger vm delete dev && bash scripts/daemons.sh stop
EOM
