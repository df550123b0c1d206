# Shared helpers for banger's guest scripts (sourced by bash).
BANGER_STATE=/etc/banger

# banger_arg KEY: value of banger.KEY=... from the kernel command line (empty if absent).
banger_arg() {
  local arg
  for arg in $(cat /proc/cmdline); do
    case "$arg" in
      "banger.$1="*) printf '%s' "${arg#banger.$1=}"; return 0 ;;
    esac
  done
  return 1
}

banger_log() {
  echo "banger: $*" >/dev/console 2>/dev/null || echo "banger: $*" >&2
}

# banger_secret NAME: per-VM secret for a service; banger.secret.NAME= on the cmdline wins,
# otherwise one is generated on first boot and kept in /etc/banger/secrets/NAME (0600).
banger_secret() {
  local name="$1" file="$BANGER_STATE/secrets/$1" v
  if v=$(banger_arg "secret.$name") && [ -n "$v" ]; then
    printf '%s' "$v"
    return 0
  fi
  if [ ! -s "$file" ]; then
    mkdir -p "$BANGER_STATE/secrets"
    chmod 0700 "$BANGER_STATE/secrets"
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$file.tmp" && mv "$file.tmp" "$file")
  fi
  cat "$file"
}
