import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { helperv2, type vmv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, runCli, type Stack } from '../harness/daemons.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

const skip = netnsUnavailableReason() ?? (process.getuid?.() === 0 ? undefined : 'needs root (privhelper runs as root)');
if (skip) console.warn(`integration/faults/janitor skipped: ${skip}`);

// Long enough for doctor (which probes the host too) to see the orphans before they go.
const GRACE_S = 30;

/** Polls until `check` holds, failing with what it last saw after `ms`. */
async function eventually<T>(what: string, ms: number, probe: () => Promise<T>, check: (v: T) => boolean): Promise<{ value: T; afterMs: number }> {
  const start = Date.now();
  let last: T = await probe();
  while (!check(last)) {
    if (Date.now() - start > ms) throw new Error(`${what} not reached within ${ms} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
    last = await probe();
  }
  return { value: last, afterMs: Date.now() - start };
}

/**
 * The janitor against the real daemons: privhelper as root in a throwaway network namespace,
 * vmd as banger. Orphans are made the way crashes make them (a tap marked for a VM that has no
 * row, a disk dir holding only a `.partial`, a DNS record no row has), then must be reported by
 * `system gc --dry-run` and `doctor`, and gone after the grace without anyone asking.
 */
describe.skipIf(skip !== undefined)('vmd janitor: orphans nobody recorded converge', () => {
  let stack: Stack;
  let ns: Netns;
  let helper: ServiceClient<typeof helperv2.HelperServiceService>;
  const bridge = `bgr-j${randomBytes(2).toString('hex')}`;
  const tapVm = 'orphantap01';
  const dirVm = 'orphandir02';
  // Fences whose taps were deleted under privhelper: only their nft elements are left.
  const fenceVmA = 'orphanfence3';
  const fenceVmB = 'orphanfence4';

  /** Fences a VM and deletes its tap behind privhelper's back; answers the tap's name. */
  const plantFence = async (vmId: string, ipv4: string): Promise<string> => {
    await helper.unary('applyNat', { bridge, cidr: '10.232.0.0/24', egressInterface: '' });
    const { tap } = await helper.unary('acquireTap', { vmId, bridge: '' });
    await helper.unary('fenceVm', { vmId, ipv4, mac: `02:00:00:00:00:${ipv4.split('.')[3] ?? '0'}` });
    await ns.must('ip', ['link', 'del', tap]);
    return tap;
  };
  /** The addresses banger's bridge table pins to a tap, as the kernel holds them. */
  const fencedIps = async (): Promise<string> => (await ns.exec('nft', ['list', 'set', 'bridge', 'banger', 'fence_ip'])).stdout;
  let tapA = '';
  let tapB = '';

  beforeAll(async () => {
    ns = await Netns.create();
    stack = await createStack({
      extraConfig: ['[network]', `netns = "${ns.name}"`, 'cidr = "10.232.0.0/24"', `bridge = "${bridge}"`, '[vmd]', `gc_grace_seconds = ${GRACE_S}`, 'gc_interval_seconds = 2'].join('\n'),
    });
    await stack.start('privhelper');
    await stack.start('imaged');
    helper = new ServiceClient(helperv2.HelperServiceService, stack.socket('privhelper'), { peer: 'privhelper' });
    await helper.unary('ensureBridge', { bridge, gatewayCidr: '10.232.0.1/24', mtu: 0 });
    // What a create SIGKILLed between privhelper's verbs and vmd's record leaves behind.
    await helper.unary('acquireTap', { vmId: tapVm, bridge: '' });
    await helper.unary('syncDnsRecords', { records: [{ name: 'ghost', ipv4: '10.232.0.77' }] });
    const dir = join(stack.dir, 'state', 'helper', 'vms', dirVm);
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'root.qcow2.partial'), 'half an overlay');
    tapA = await plantFence(fenceVmA, '10.232.0.50');
  }, 120_000);

  afterAll(async () => {
    helper?.close();
    await stack?.close();
    await ns?.destroy();
  });

  const tapMarks = async (): Promise<string[]> => {
    const links = JSON.parse(await ns.must('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; ifalias?: string }[];
    return links.flatMap((l) => (l.ifalias?.startsWith('vm:') ? [l.ifalias] : []));
  };

  it('privhelper lists what it holds, from the host', async () => {
    const held = await helper.unary('listHeld', {});
    expect(held.vms).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ vmId: tapVm, tap: expect.stringMatching(/.+/), diskDir: false }),
        expect.objectContaining({ vmId: dirVm, diskDir: true, diskFiles: ['root.qcow2.partial'], tap: '' }),
        // The pool still names the deleted tap until it looks at the kernel again (a restart).
        expect.objectContaining({ vmId: fenceVmA, diskDir: false, runDir: false, fenceIpv4: '10.232.0.50', fenceMac: '02:00:00:00:00:50', fenceTap: tapA }),
      ]),
    );
    expect(await fencedIps()).toContain('10.232.0.50');
    expect(held.dnsRecords).toEqual(['ghost']);
    expect(await tapMarks()).toEqual([`vm:${tapVm}`]);

    // A privhelper that crashed and came back finds the marked tap again from the kernel,
    // without creating any tap for the listing.
    // A build SIGKILLed mid-way leaves its mkdtemp in privhelper's build root: the next
    // privhelper removes it before serving.
    const partial = join(stack.dir, 'state', 'helper', 'build', 'debian-bookworm-Xk3v9q');
    await mkdir(join(partial, 'rootfs'), { recursive: true });
    await stack.stop('privhelper', 'SIGKILL');
    await stack.start('privhelper');
    expect(existsSync(partial)).toBe(false);
    // The restarted privhelper does not take back a saved fence whose tap is gone, and takes its
    // elements out of the kernel's sets instead of leaving them to nobody.
    expect((await helper.unary('listHeld', {})).vms.map((v) => v.vmId)).not.toContain(fenceVmA);
    expect(await fencedIps()).not.toContain('10.232.0.50');
    const linksBefore = (await ns.must('ip', ['-o', 'link', 'show'])).split('\n').length;
    const again = await helper.unary('listHeld', {});
    expect(again.vms.find((v) => v.vmId === tapVm)?.tap).toBe(held.vms.find((v) => v.vmId === tapVm)?.tap);
    expect((await ns.must('ip', ['-o', 'link', 'show'])).split('\n').length).toBe(linksBefore);
  }, 60_000);

  it('reports them (in grace) with a dry run and in doctor, removing nothing', async () => {
    tapB = await plantFence(fenceVmB, '10.232.0.51');
    await stack.start('vmd');
    const doctor = await runCli(stack, ['--json', 'doctor']);
    const check = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks.find((c) => c.name === 'leftovers');
    expect(check).toMatchObject({ status: 'warn', fix: 'banger system gc' });
    expect(check?.detail).toContain(`orphan of vm ${dirVm}: disk dir (root.qcow2.partial)`);
    const dry = await runCli(stack, ['--json', 'system', 'gc', '--dry-run']);
    expect(dry.code).toBe(0);
    const report = JSON.parse(dry.stdout) as vmv1.CollectGarbageResponse & { orphans: { vmId: string; action: string; held: string[] }[]; dnsDrift: string[] };
    const orphans = Object.fromEntries(report.orphans.map((o) => [o.vmId, o]));
    expect(orphans[tapVm]).toMatchObject({ held: [expect.stringMatching(/^tap /)] });
    expect(orphans[dirVm]).toMatchObject({ held: ['disk dir (root.qcow2.partial)'] });
    expect(['grace', 'would_remove']).toContain(orphans[dirVm]?.action);
    expect(orphans[fenceVmB]).toMatchObject({ held: expect.arrayContaining([`nft fence 10.232.0.51 on ${tapB}`]), action: 'grace' });
    expect(await fencedIps()).toContain('10.232.0.51');
    // DNS is derived from the rows, so it needs no grace: the janitor's first pass already resynced it.
    expect(report.dnsDrift ?? []).toEqual([]);
    expect((await helper.unary('listHeld', {})).dnsRecords).toEqual([]);
    expect(existsSync(join(stack.dir, 'state', 'helper', 'vms', dirVm))).toBe(true);
  }, 60_000);

  it('the janitor removes them on its own once the grace is over, within 60 s', async () => {
    const { afterMs } = await eventually(
      'orphans gone',
      (GRACE_S + 60) * 1000,
      async () => ({ dir: existsSync(join(stack.dir, 'state', 'helper', 'vms', dirVm)), marks: await tapMarks(), dns: (await helper.unary('listHeld', {})).dnsRecords, fence: (await fencedIps()).includes('10.232.0.51') }),
      (v) => !v.dir && v.marks.length === 0 && v.dns.length === 0 && !v.fence,
    );
    console.log(`janitor: orphans gone ${afterMs} ms after the check began (grace ${GRACE_S} s)`);
    expect((await helper.unary('listHeld', {})).vms).toEqual([]);
    const removed = await stack.waitForLog((l) => l.msg === 'orphan removed' && (l as unknown as { vm_id?: string }).vm_id === dirVm, 5000);
    expect(removed).toBeTruthy();
    const doctor = await runCli(stack, ['--json', 'doctor']);
    const check = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string }[] }).checks.find((c) => c.name === 'leftovers');
    expect(check).toMatchObject({ status: 'pass' });
  }, (GRACE_S + 90) * 1000);

  it('blames privhelper, not vmd, when privhelper is down (and says cannot reach vmd only when vmd is)', async () => {
    await stack.stop('privhelper', 'SIGKILL');
    const create = await runCli(stack, ['vm', 'create', '--name', 'f1', '--no-wait']);
    expect(create.code).toBe(7);
    expect(create.stderr).not.toContain('cannot reach vmd');
    expect(create.stderr).toMatch(/vmd answered, but privhelper is unavailable/);
    expect(create.stderr).toContain('is privhelper running?');
    const gc = await runCli(stack, ['--json', 'system', 'gc']);
    expect(JSON.parse(gc.stdout)).toMatchObject({ helperReachable: false });
    expect(gc.code).toBe(1);

    await stack.stop('vmd', 'SIGKILL');
    const show = await runCli(stack, ['vm', 'list']);
    expect(show.code).toBe(7);
    expect(show.stderr).toMatch(/^banger: cannot reach vmd at /);
  }, 120_000);
});
