#!/usr/bin/env bash
# Host packages banger and its tests need on Debian 12 (bookworm). Idempotent; run as root.
#   install-deps.sh          what banger itself needs
#   install-deps.sh --test   plus what only the tests use (chromium: the port-forward screenshot;
#                            zsh, fish: the completion scripts are checked with zsh -n, fish -n)
set -euo pipefail
packages=(
  qemu-system-x86 qemu-utils
  debootstrap busybox-static kmod
  e2fsprogs cpio xz-utils zstd
  iproute2 nftables
  postgresql-15
  openssh-client
  build-essential python3
  ca-certificates
)
if [ "${1:-}" = "--test" ]; then packages+=(chromium zsh fish); fi
# clients/python: its generator (protoc + the gRPC Python plugin, the well-known types from
# grpc-tools) and its runtime (grpcio, protobuf), for integration/clients.
if [ "${1:-}" = "--test" ]; then packages+=(protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-grpc-tools python3-protobuf); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
