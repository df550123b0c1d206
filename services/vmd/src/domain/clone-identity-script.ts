/**
 * The guest side of a clone's identity: one /bin/sh that uses builtins for everything it can,
 * because under TCG every process a restored clone starts costs 0.1-1 s (its QEMU's translation
 * cache is empty), and the old script's ~20 processes were most of the identity stage. What is
 * left is two processes: perl (the kernel's clock and RNG need syscalls and ioctls a shell has
 * not got, and it unlinks the old host keys) and one `ip -batch` for the NIC. Files are written
 * with printf and read with `read`; the hostname goes to /proc/sys/kernel/hostname.
 *
 * sshd is not reloaded: the listener only accepts, and OpenSSH (9.2 in the Debian image)
 * re-executes itself for every connection, and that process loads the host keys from disk.
 *
 * Step times (guest uptime, from /proc/uptime with `read`, no process) come back on stdout, so
 * the stage can be traced without a debug build.
 */
const PERL = [
  'my ($root, $sec, $nsec, $nr) = @ARGV;',
  'my $hex = <STDIN>; chomp $hex; my $d = pack("H*", $hex);',
  'if (opendir(my $dh, "$root/etc/ssh")) { unlink map { "$root/etc/ssh/$_" } grep { /^ssh_host_/ } readdir $dh; }',
  'if ($nr) { syscall($nr + 0, 0, pack("qq", $sec, $nsec)) == 0 or die "clock_settime: $!\\n"; }',
  'open(my $f, "+<", "$root/dev/urandom") or die "open /dev/urandom: $!\\n";',
  'ioctl($f, 0x40085203, pack("ii", 8 * length($d), length($d)) . $d) or die "RNDADDENTROPY: $!\\n";',
  'ioctl($f, 0x5207, 0) or die "RNDRESEEDCRNG: $!\\n";',
].join(' ');

const END_KEY = '-----END OPENSSH PRIVATE KEY-----';

/*
 * $1 the perl program, $2 a root prefix ('' in a guest; a directory in unit tests), $3 MAC,
 * $4 address/prefix, $5 gateway, $6 hostname, $7 machine-id, $8 $9 the clock (seconds,
 * nanoseconds), ${10} clock_settime's syscall number (0: not known, `date` sets the clock),
 * ${11} ${12} the ed25519 and ecdsa public lines. Stdin: both private keys, then the entropy as
 * one hex line: secrets never appear in a process list.
 */
const SCRIPT = [
  'set -eu',
  'R=$2',
  'T=""; m() { read -r u _ < /proc/uptime; T="$T $1=$u"; }; m start',
  `key() { k=""; while IFS= read -r l; do k="$k$l\n"; [ "$l" = "${END_KEY}" ] && return 0; done; echo "stdin ended inside a private key" >&2; exit 1; }`,
  'key; ed=$k; key; ec=$k; IFS= read -r ent',
  'umask 022',
  'if command -v perl >/dev/null; then',
  '  perl -e "$1" "$R" "$8" "$9" "${10}" <<EOF',
  '$ent',
  'EOF',
  '  [ "${10}" != 0 ] || date -u -s "@$8" >/dev/null',
  'else',
  '  echo "no perl in the guest: host entropy mixed into /dev/urandom, the RNG not reseeded" >&2',
  '  rm -f "$R"/etc/ssh/ssh_host_*; date -u -s "@$8" >/dev/null; printf "%s" "$ent" > "$R/dev/urandom"',
  'fi',
  'm clock_rng',
  'dev=""; for d in "$R"/sys/class/net/*; do d=${d##*/}; [ "$d" = lo ] && continue; dev=$d; break; done',
  '[ -n "$dev" ] || { echo "no network interface besides lo" >&2; exit 1; }',
  'ip -b - <<EOF',
  'link set dev $dev down',
  'link set dev $dev address $3',
  'addr flush dev $dev',
  'link set dev $dev up',
  'addr replace $4 dev $dev',
  'route replace default via $5 dev $dev',
  'EOF',
  'm nic',
  'printf "%s" "$6" > "$R/proc/sys/kernel/hostname"; printf "%s\\n" "$6" > "$R/etc/hostname"',
  'h=""; found=""',
  'if [ -r "$R/etc/hosts" ]; then',
  '  while IFS= read -r l || [ -n "$l" ]; do case $l in "127.0.1.1 "*|"127.0.1.1\t"*) l="127.0.1.1 $6"; found=1;; esac; h="$h$l\n"; done < "$R/etc/hosts"',
  'fi',
  '[ -n "$found" ] || h="${h}127.0.1.1 $6\n"',
  'printf "%s" "$h" > "$R/etc/hosts"',
  'printf "%s\\n" "$7" > "$R/etc/machine-id"',
  'if [ -d "$R/etc/ssh" ]; then',
  '  printf "%s\\n" "${11}" > "$R/etc/ssh/ssh_host_ed25519_key.pub"; printf "%s\\n" "${12}" > "$R/etc/ssh/ssh_host_ecdsa_key.pub"',
  '  umask 077',
  '  printf "%s" "$ed" > "$R/etc/ssh/ssh_host_ed25519_key"; printf "%s" "$ec" > "$R/etc/ssh/ssh_host_ecdsa_key"',
  'fi',
  'm files',
  'echo "$T"',
].join('\n');

/** clock_settime(2) by the guest's architecture, which is the host's (guests run the host's arch). */
const CLOCK_SETTIME: Partial<Record<NodeJS.Architecture, number>> = { x64: 227, arm64: 112 };

export interface CloneIdentityInput {
  mac: string;
  /** `ADDRESS/PREFIX` */
  address: string;
  gateway: string;
  hostname: string;
  machineId: string;
  /** The host's clock, ms since the epoch. */
  nowMs: number;
  /** Both OpenSSH private key files (text, ending in a newline). */
  ed25519: { privateKey: string; publicKey: string };
  ecdsa: { privateKey: string; publicKey: string };
  entropy: Buffer;
  /** '' in a guest; tests point it at a directory. */
  root?: string;
  arch?: NodeJS.Architecture;
}

/** The argv and stdin that set a clone's identity (see the module comment). */
export function cloneIdentityCommand(i: CloneIdentityInput): { argv: string[]; input: Buffer } {
  for (const k of [i.ed25519.privateKey, i.ecdsa.privateKey]) {
    if (!k.endsWith(`${END_KEY}\n`)) throw new Error('a host private key must be an OpenSSH key file ending in its END line');
  }
  const sec = Math.floor(i.nowMs / 1000);
  const argv = [
    '/bin/sh',
    '-c',
    SCRIPT,
    'identity',
    PERL,
    i.root ?? '',
    i.mac,
    i.address,
    i.gateway,
    i.hostname,
    i.machineId,
    String(sec),
    String((i.nowMs - sec * 1000) * 1_000_000),
    String(CLOCK_SETTIME[i.arch ?? process.arch] ?? 0),
    i.ed25519.publicKey,
    i.ecdsa.publicKey,
  ];
  return { argv, input: Buffer.from(`${i.ed25519.privateKey}${i.ecdsa.privateKey}${i.entropy.toString('hex')}\n`) };
}

/** The step timings the script prints ("start=12.34 ..."), as ms since its start. */
export function identitySteps(stdout: string): Record<string, number> {
  const marks = [...stdout.matchAll(/(\w+)=(\d+(?:\.\d+)?)/g)].map((m) => [m[1] ?? '', Number(m[2])] as const);
  const start = marks[0]?.[1] ?? 0;
  return Object.fromEntries(marks.slice(1).map(([k, v]) => [k, Math.round((v - start) * 1000)]));
}
