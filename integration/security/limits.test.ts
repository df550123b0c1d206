import { access, statfs } from 'node:fs/promises';
import { totalmem, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ext4Image } from './attacks/disk-images.js';
import { createWorkDiskRequest, GiB, launchRequest, MiB, QCOW2, vmId } from './attacks/requests.js';
import { launchAsAttacker, outcomeLine, overlayFor } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import type { Outcome } from './lib/attacker.js';
import { watchProcesses } from './lib/procfs.js';

/**
 * Issue 11, item 8: privhelper enforces its own hard-coded bounds (32 GiB, 16 vCPUs, 2 TiB
 * disks), not the configured `[vm]` ones, has no global quota, and starts a QEMU for every deep
 * probe. Safe: over a limit the call is refused, naming the limit (RESOURCE_EXHAUSTED for the
 * global quotas and the probe rate), and nothing is created.
 *
 * v2: requests name ids, not paths, but carry the same sizes; the attacks are unchanged.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: limits: ${skip}`);

const OVER_LIMIT = ['INVALID_ARGUMENT', 'OUT_OF_RANGE', 'RESOURCE_EXHAUSTED'];

/** A seed whose ext4 can grow to any size (meta_bg, no resize inode): the attacker's own image. */
async function growableSeed(h: SecurityHarness, name: string): Promise<string> {
  const seed = path.join(h.stateDir, 'images', 'attacker', name, 'work-seed.ext4');
  await ext4Image(h.attacker, seed, '16M', ['-b', '4096', '-O', '64bit,meta_bg,^resize_inode']);
  return seed;
}

function refusal(r: Outcome<unknown>): string {
  return r.ok ? 'accepted' : `${r.err.codeName}: ${r.err.details}`;
}

describe.skipIf(skip !== undefined)('security: per-VM bounds come from [vm] in the config', () => {
  const ctx = useHarness({ guest: true, vm: { maxMemoryMib: 1024, maxVcpus: 2, maxWorkDiskGib: 8 } });

  it('memory above [vm] max_memory_mib (2048 > 1024) is refused, naming the limit', async () => {
    const { h } = ctx;
    const id = vmId('mem');
    const root = await overlayFor(h, id, h.guest!.base);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 }, memoryMib: 2048 }));
    expect(r.ok ? 'accepted' : r.err.codeName, `launch ${outcomeLine(r)}`).toBeOneOf(OVER_LIMIT);
    expect(refusal(r)).toMatch(/max_memory_mib|1024/);
  });

  it('vCPUs above [vm] max_vcpus (3 > 2) are refused, naming the limit', async () => {
    const { h } = ctx;
    const id = vmId('cpu');
    const root = await overlayFor(h, id, h.guest!.base);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 }, vcpus: 3 }));
    expect(r.ok ? 'accepted' : r.err.codeName, `launch ${outcomeLine(r)}`).toBeOneOf(OVER_LIMIT);
    expect(refusal(r)).toMatch(/max_vcpus|\b2\b/);
  });

  it('a work disk above [vm] max_work_disk_gib (9 GiB > 8) is refused, naming the limit', async () => {
    const { h } = ctx;
    const seed = await growableSeed(h, 'nine');
    const id = vmId('disk');
    const r = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, 9 * GiB));
    if (r.ok) await h.attacker.call('removeWorkDisk', { path: r.res.path });
    expect(r.ok ? 'accepted' : r.err.codeName, `CreateWorkDisk ${outcomeLine(r)}`).toBeOneOf(OVER_LIMIT);
    expect(refusal(r)).toMatch(/max_work_disk_gib|\b8\b/);
  });

  it('a 2 TiB sparse work disk is refused with RESOURCE_EXHAUSTED', async () => {
    const { h } = ctx;
    const seed = await growableSeed(h, 'huge');
    const id = vmId('huge');
    const r = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, 2 * 1024 * GiB));
    const made = r.ok ? `created ${r.res.path} of ${r.res.sizeBytes} bytes` : '';
    if (r.ok) await h.attacker.call('removeWorkDisk', { path: r.res.path });
    expect(r.ok ? 'accepted' : r.err.codeName, `CreateWorkDisk ${outcomeLine(r)} ${made}`).toBe('RESOURCE_EXHAUSTED');
  });

  it('growing a work disk to 2 TiB (ResizeWorkDisk) is refused with RESOURCE_EXHAUSTED', async () => {
    const { h } = ctx;
    const seed = await growableSeed(h, 'grow');
    const id = vmId('grow');
    const made = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, 16 * MiB));
    expect(made.ok, `CreateWorkDisk ${outcomeLine(made)}`).toBe(true);
    const work = made.ok ? made.res.path : '';
    const r = await h.attacker.call('resizeWorkDisk', { path: work, sizeBytes: 2 * 1024 * GiB });
    await h.attacker.call('removeWorkDisk', { path: work });
    expect(r.ok ? 'accepted' : r.err.codeName, `ResizeWorkDisk ${outcomeLine(r)}${r.ok ? ` to ${r.res.sizeBytes} bytes` : ''}`).toBe('RESOURCE_EXHAUSTED');
  });

  /** The boot probe only runs where /dev/kvm exists (it does here: PVM). */
  it('ProbeHost{deep} at most once per 60 s per caller: the repeats are refused and start no QEMU', async (t) => {
    const { h } = ctx;
    if (!(await access('/dev/kvm').then(() => true, () => false))) t.skip('no /dev/kvm: a deep probe starts no QEMU here');
    const privhelper = h.privhelperPid;
    const watch = watchProcesses((args) => path.basename(args[0] ?? '').startsWith('qemu-system-') && args.includes('-S') && args.includes('kvm'));
    const outcomes: Outcome<{ capabilities?: { kvmDetail: string } | undefined }>[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await h.attacker.call('probeHost', { deep: true }));
    const probes = await watch.stop();
    const lines = outcomes.map((r, i) => `#${i + 1} ${r.ok ? `ok: ${r.res.capabilities?.kvmDetail ?? ''}` : `${r.err.codeName}: ${r.err.details}`}`);
    lines.push(`probe QEMUs seen: ${probes.size} (${[...probes.keys()].join(', ')})`);
    expect(outcomes.slice(1).map((r) => (r.ok ? 'answered' : r.err.codeName)), lines.join('\n')).toEqual(['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
    expect(probes.size, `probe QEMUs seen (privhelper ${privhelper}): ${[...probes.keys()].join(', ')}`).toBeLessThanOrEqual(1);
  });
});

const GUEST_MIB = 16384;
const hostMib = Math.floor(totalmem() / MiB);
const vmsForMemoryQuota = Math.floor((0.75 * hostMib) / GUEST_MIB) + 1;
const freeGib = await statfs(tmpdir()).then((s) => Math.floor((s.bavail * s.bsize) / GiB));
/** Per-VM disk bound so two disks within it exceed the free space together. */
const diskGib = Math.min(65536, Math.ceil(freeGib / 2) + 1);
const quotaSkip = skip ?? (vmsForMemoryQuota > 3 ? `host has ${hostMib} MiB: the memory quota needs ${vmsForMemoryQuota} guests of ${GUEST_MIB} MiB` : undefined);

describe.skipIf(quotaSkip !== undefined)('security: global quotas across VMs', () => {
  const ctx = useHarness({ guest: true, vm: { maxMemoryMib: GUEST_MIB, maxWorkDiskGib: diskGib } });

  it(`guest memory beyond 75% of host RAM in total is refused with RESOURCE_EXHAUSTED (${vmsForMemoryQuota} x ${GUEST_MIB} MiB on ${hostMib} MiB)`, async () => {
    const { h } = ctx;
    const outcomes: Outcome<unknown>[] = [];
    for (let i = 0; i < vmsForMemoryQuota; i++) {
      const id = vmId('quota');
      const root = await overlayFor(h, id, h.guest!.base);
      outcomes.push(await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 }, memoryMib: GUEST_MIB })));
    }
    await h.killQemus();
    const last = outcomes.at(-1)!;
    expect(last.ok ? 'accepted' : last.err.codeName, outcomes.map((r, i) => `VM ${i + 1}: ${outcomeLine(r)}`).join('\n')).toBe('RESOURCE_EXHAUSTED');
  });

  it(`work disks beyond the free space in total are refused with RESOURCE_EXHAUSTED (2 x ${diskGib} GiB, ${freeGib} GiB free)`, async () => {
    const { h } = ctx;
    const seed = await growableSeed(h, 'quota');
    const outcomes: Outcome<{ path: string; sizeBytes: number }>[] = [];
    for (let i = 0; i < 2; i++) outcomes.push(await h.attacker.call('createWorkDisk', createWorkDiskRequest(vmId('dq'), seed, diskGib * GiB)));
    for (const r of outcomes) if (r.ok) await h.attacker.call('removeWorkDisk', { path: r.res.path });
    const last = outcomes.at(-1)!;
    expect(last.ok ? 'accepted' : last.err.codeName, outcomes.map((r, i) => `disk ${i + 1}: ${outcomeLine(r)}`).join('\n')).toBe('RESOURCE_EXHAUSTED');
  });
});
