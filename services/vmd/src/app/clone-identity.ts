import { randomBytes } from 'node:crypto';
import { log } from '@banger/runtime/logging';
import { FailedPreconditionError } from '@banger/runtime/errors';
import { cloneIdentityCommand, identitySteps } from '../domain/clone-identity-script.js';
import { guestText } from '../domain/guest-values.js';
import { newHostKeys, newMachineId } from '../domain/host-keys.js';
import type { Subnet } from '../domain/addressing.js';
import type { Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';

/** Bytes of host entropy credited to the clone's kernel RNG before it is reseeded. */
const ENTROPY_BYTES = 64;

/** What the identity stage gave the clone, for vmd's records (the private keys stay in the guest). */
export interface CloneIdentity {
  sshHostKeys: string[];
  machineId: string;
}

/**
 * Sets a restored clone's identity inside the guest in one agent round trip: MAC, address and
 * route, hostname, a new machine-id and SSH host keys made on the host, the clock, and an RNG
 * reseed from host entropy (domain/clone-identity-script.ts). Everything is applied before this
 * resolves: nothing is left running in the guest. Why on the host: generating host keys in the
 * guest under TCG was most of `vm create --from`.
 */
export async function setCloneIdentity(deps: { agent: GuestAgent; subnet: Subnet }, vm: Vm): Promise<CloneIdentity> {
  const [ed, ec] = newHostKeys(`root@${vm.name}`);
  if (!ed || !ec) throw new Error('newHostKeys made no ed25519 and ecdsa pair');
  const machineId = newMachineId();
  const { argv, input } = cloneIdentityCommand({
    mac: vm.network.mac ?? '',
    address: `${vm.network.ipv4 ?? ''}/${deps.subnet.prefix}`,
    gateway: deps.subnet.gateway,
    hostname: vm.name,
    machineId,
    nowMs: Date.now(),
    ed25519: ed,
    ecdsa: ec,
    entropy: randomBytes(ENTROPY_BYTES),
  });
  const started = Date.now();
  // vmd's own short command: qemu-ga captures its output (no output files, no clean-up call).
  const res = await deps.agent.exec(vm.files.agentSocket, argv, { input, timeoutMs: 120_000, maxOutputBytes: 64 * 1024, overflow: 'fail' });
  if (res.exitCode !== 0 || res.timedOut) {
    const why = `${res.timedOut ? 'timed out' : `exit ${res.exitCode}`}: ${guestText(res.stderr).trim().slice(-400)}`;
    throw new FailedPreconditionError('CLONE_IDENTITY_FAILED', `the clone's identity could not be set in the guest (${why})`);
  }
  log().info({ vm_id: vm.id, exec_ms: Date.now() - started, guest_steps_ms: identitySteps(guestText(res.stdout)), warnings: guestText(res.stderr).trim() || undefined }, 'clone identity set');
  return { sshHostKeys: [ed.publicKey, ec.publicKey], machineId };
}
