import { FailedPreconditionError } from '@banger/runtime/errors';
import { guestText } from '../domain/guest-values.js';
import { newHostKeys, newMachineId } from '../domain/host-keys.js';
import type { Subnet } from '../domain/addressing.js';
import type { Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';
import { randomBytes } from 'node:crypto';

/** Bytes of host entropy credited to the clone's kernel RNG before it is reseeded. */
const ENTROPY_BYTES = 64;

/**
 * The clone's identity in one agent round trip. Values arrive as positional arguments
 * ($1..$11), never spliced into the script; the secrets (both private host keys, the entropy)
 * arrive on stdin, so they never show in the guest's process list, and are cut out of it by the
 * lengths in $7, $9 and $11. The restored NIC still has the source's MAC and address, so both
 * are replaced by the clone's (the ones its tap is fenced to). The clock is set from the host's
 * (the restored one stopped at snapshot time); the kernel RNG, identical in every clone of one
 * snapshot, is credited with host entropy and reseeded (RNDADDENTROPY, RNDRESEEDCRNG through
 * perl, which Debian always has as perl-base; without perl the entropy is only mixed in and
 * the script says so on stderr).
 */
const IDENTITY = [
  'set -eu',
  'umask 077',
  't=$(mktemp)',
  'trap \'rm -f "$t"\' EXIT',
  'cat > "$t"',
  'part() { tail -c +"$(( $1 + 1 ))" "$t" | head -c "$2"; }',
  'date -u -s "@$6" >/dev/null',
  'dev=""; for d in /sys/class/net/*; do d=${d##*/}; [ "$d" = lo ] && continue; dev=$d; break; done',
  '[ -n "$dev" ]',
  'ip link set "$dev" down; ip link set "$dev" address "$1"; ip addr flush dev "$dev"; ip link set "$dev" up',
  'ip addr replace "$2" dev "$dev"; ip route replace default via "$3" dev "$dev"',
  'hostname "$4"; printf "%s\\n" "$4" > /etc/hostname; chmod 644 /etc/hostname',
  'if grep -q "^127.0.1.1[[:space:]]" /etc/hosts; then sed -i "s/^127.0.1.1[[:space:]].*/127.0.1.1 $4/" /etc/hosts; else echo "127.0.1.1 $4" >> /etc/hosts; fi',
  'printf "%s\\n" "$5" > /etc/machine-id; chmod 444 /etc/machine-id',
  'if [ -d /etc/ssh ]; then',
  '  rm -f /etc/ssh/ssh_host_*',
  '  part 0 "$7" > /etc/ssh/ssh_host_ed25519_key; printf "%s\\n" "$8" > /etc/ssh/ssh_host_ed25519_key.pub',
  '  part "$7" "$9" > /etc/ssh/ssh_host_ecdsa_key; printf "%s\\n" "${10}" > /etc/ssh/ssh_host_ecdsa_key.pub',
  '  chmod 600 /etc/ssh/ssh_host_*_key; chmod 644 /etc/ssh/ssh_host_*_key.pub',
  'fi',
  'off=$(( $7 + $9 ))',
  'part "$off" "${11}" > /dev/urandom',
  'if command -v perl >/dev/null; then',
  '  part "$off" "${11}" | perl -e \'local $/; my $d = <STDIN>; open(my $f, "+<", "/dev/urandom") or die "open /dev/urandom: $!\\n"; ioctl($f, 0x40085203, pack("ii", 8 * length($d), length($d)) . $d) or die "RNDADDENTROPY: $!\\n"; ioctl($f, 0x5207, 0) or die "RNDRESEEDCRNG: $!\\n";\'',
  'else echo "no perl in the guest: host entropy mixed into /dev/urandom, the RNG not reseeded" >&2; fi',
  // Queued, not waited for: waiting cost ~10 s under TCG, and the reload is only for the
  // listener; each new connection's re-executed sshd reads the host keys from disk itself.
  '(systemctl --no-block try-reload-or-restart ssh || true) >/dev/null 2>&1 </dev/null',
].join('\n');

/** What the identity stage gave the clone, for vmd's records (the private keys stay in the guest). */
export interface CloneIdentity {
  sshHostKeys: string[];
  machineId: string;
}

/**
 * Sets a restored clone's identity inside the guest: MAC, address and route, hostname, a new
 * machine-id and SSH host keys made on the host, the clock, and an RNG reseed from host entropy.
 * Why on the host: generating host keys in the guest under TCG was most of `vm create --from`.
 */
export async function setCloneIdentity(deps: { agent: GuestAgent; subnet: Subnet }, vm: Vm): Promise<CloneIdentity> {
  const keys = newHostKeys(`root@${vm.name}`);
  const [ed, ec] = keys;
  if (!ed || !ec) throw new Error('newHostKeys made no ed25519 and ecdsa pair');
  const machineId = newMachineId();
  const edPriv = Buffer.from(ed.privateKey);
  const ecPriv = Buffer.from(ec.privateKey);
  const now = Date.now();
  const args = [
    vm.network.mac ?? '',
    `${vm.network.ipv4 ?? ''}/${deps.subnet.prefix}`,
    deps.subnet.gateway,
    vm.name,
    machineId,
    `${Math.floor(now / 1000)}.${String(now % 1000).padStart(3, '0')}`,
    String(edPriv.length),
    ed.publicKey,
    String(ecPriv.length),
    ec.publicKey,
    String(ENTROPY_BYTES),
  ];
  const input = Buffer.concat([edPriv, ecPriv, randomBytes(ENTROPY_BYTES)]);
  const res = await deps.agent.exec(vm.files.agentSocket, ['/bin/sh', '-c', IDENTITY, 'identity', ...args], { input, timeoutMs: 120_000, maxOutputBytes: 64 * 1024, overflow: 'truncate' });
  if (res.exitCode !== 0 || res.timedOut) {
    const why = `${res.timedOut ? 'timed out' : `exit ${res.exitCode}`}: ${guestText(res.stderr).trim().slice(-400)}`;
    throw new FailedPreconditionError('CLONE_IDENTITY_FAILED', `the clone's identity could not be set in the guest (${why})`);
  }
  return { sshHostKeys: keys.map((k) => k.publicKey), machineId };
}
