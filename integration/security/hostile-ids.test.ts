import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { OP_ID_PATTERN } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { launchRequest } from './attacks/requests.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import type { AgentRpcError } from './attacker/protocol.js';
import type { Req, UnaryKey } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';

/**
 * In v2 every name a caller gives privhelper becomes one path component inside a root-owned
 * store (a VM id, an image id, a kernel {name, version}), or a network object name. Every
 * verb is called here with hostile names in each such field: traversal, separators, NUL,
 * 5000 characters, option-looking and empty values. Safe: each call is INVALID_ARGUMENT
 * naming the field, with an op id, nothing appears in privhelper's directories, no victim
 * changes, and privhelper keeps answering.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: hostile ids: ${skip}`);

const HOSTILE = ['../x', '..', '.', '', 'a/b', '/etc/passwd', 'x\u0000y', 'x'.repeat(5000), '-rf', 'A', 'vm,id', ' ', 'ü', '../'.repeat(200)];
/** Kernel versions may hold upper case, '+' and '~' (Debian versions); the rest is as hostile for them. */
const HOSTILE_VERSION = HOSTILE.filter((s) => s !== 'A');

type Call = (h: SecurityHarness, bad: string) => Promise<{ ok: true } | { ok: false; err: AgentRpcError }>;

interface Case {
  readonly verb: string;
  readonly field: RegExp;
  readonly values: readonly string[];
  readonly call: Call;
}

const unary =
  <K extends UnaryKey>(method: K, req: (h: SecurityHarness, bad: string) => Req<K>): Call =>
  async (h, bad) => {
    const r = await h.attacker.call(method, req(h, bad), 20_000);
    return r.ok ? { ok: true } : { ok: false, err: r.err };
  };

const GOOD_VM = 'hostile-good';
const kernel = (h: SecurityHarness): { name: string; version: string } => h.tiny.ref;

const CASES: readonly Case[] = [
  { verb: 'CreateOverlay vm_id', field: /vm_id/, values: HOSTILE, call: unary('createOverlay', (h, bad) => ({ vmId: bad, image: h.guestImage.id })) },
  { verb: 'CreateOverlay image', field: /image/, values: HOSTILE, call: unary('createOverlay', (_h, bad) => ({ vmId: GOOD_VM, image: bad })) },
  { verb: 'RemoveOverlay vm_id', field: /vm_id/, values: HOSTILE, call: unary('removeOverlay', (_h, bad) => ({ vmId: bad })) },
  { verb: 'CreateWorkDisk vm_id', field: /vm_id/, values: HOSTILE, call: unary('createWorkDisk', (h, bad) => ({ vmId: bad, image: h.guestImage.id, sizeBytes: 1024 ** 3 })) },
  { verb: 'CreateWorkDisk image', field: /image/, values: HOSTILE, call: unary('createWorkDisk', (_h, bad) => ({ vmId: GOOD_VM, image: bad, sizeBytes: 1024 ** 3 })) },
  { verb: 'ResizeWorkDisk vm_id', field: /vm_id/, values: HOSTILE, call: unary('resizeWorkDisk', (_h, bad) => ({ vmId: bad, sizeBytes: 2 * 1024 ** 3 })) },
  { verb: 'RemoveWorkDisk vm_id', field: /vm_id/, values: HOSTILE, call: unary('removeWorkDisk', (_h, bad) => ({ vmId: bad })) },
  { verb: 'LaunchHypervisor spec.vm_id', field: /vm_id/, values: HOSTILE, call: unary('launchHypervisor', (h, bad) => launchRequest({ vmId: bad, kernel: kernel(h) })) },
  { verb: 'LaunchHypervisor spec.kernel.name', field: /kernel\.name/, values: HOSTILE, call: unary('launchHypervisor', (h, bad) => launchRequest({ vmId: GOOD_VM, kernel: { name: bad, version: kernel(h).version } })) },
  { verb: 'LaunchHypervisor spec.kernel.version', field: /kernel\.version/, values: HOSTILE_VERSION, call: unary('launchHypervisor', (h, bad) => launchRequest({ vmId: GOOD_VM, kernel: { name: kernel(h).name, version: bad } })) },
  { verb: 'StopHypervisor vm_id', field: /vm_id/, values: HOSTILE, call: unary('stopHypervisor', (_h, bad) => ({ vmId: bad, timeout: { seconds: 1, nanos: 0 } })) },
  { verb: 'KillHypervisor vm_id', field: /vm_id/, values: HOSTILE, call: unary('killHypervisor', (_h, bad) => ({ vmId: bad })) },
  { verb: 'WaitHypervisor vm_id', field: /vm_id/, values: HOSTILE, call: unary('waitHypervisor', (_h, bad) => ({ vmId: bad, timeout: { seconds: 0, nanos: 0 } })) },
  { verb: 'FindHypervisor vm_id', field: /vm_id/, values: HOSTILE, call: unary('findHypervisor', (_h, bad) => ({ vmId: bad })) },
  { verb: 'InstallKernel kernel.name', field: /kernel\.name/, values: HOSTILE, call: unary('installKernel', (_h, bad) => ({ kernel: { name: bad, version: '1' } })) },
  { verb: 'InstallKernel kernel.version', field: /kernel\.version/, values: HOSTILE_VERSION, call: unary('installKernel', (_h, bad) => ({ kernel: { name: 'tiny', version: bad } })) },
  { verb: 'RemoveKernel kernel.name', field: /kernel\.name/, values: HOSTILE, call: unary('removeKernel', (_h, bad) => ({ kernel: { name: bad, version: '1' } })) },
  { verb: 'RemoveKernel kernel.version', field: /kernel\.version/, values: HOSTILE_VERSION, call: unary('removeKernel', (h, bad) => ({ kernel: { name: kernel(h).name, version: bad } })) },
  { verb: 'RemoveImage image', field: /image/, values: HOSTILE, call: unary('removeImage', (_h, bad) => ({ image: bad })) },
  { verb: 'PromoteVmDisk vm_id', field: /vm_id/, values: HOSTILE, call: unary('promoteVmDisk', (_h, bad) => ({ vmId: bad, image: 'promoted-hostile' })) },
  { verb: 'PromoteVmDisk image', field: /image/, values: HOSTILE, call: unary('promoteVmDisk', (_h, bad) => ({ vmId: GOOD_VM, image: bad })) },
  { verb: 'AcquireTap vm_id', field: /vm_id/, values: HOSTILE, call: unary('acquireTap', (_h, bad) => ({ vmId: bad, bridge: '' })) },
  { verb: 'ReleaseTap vm_id', field: /vm_id/, values: HOSTILE, call: unary('releaseTap', (_h, bad) => ({ vmId: bad })) },
  // Before EnsureBridge: the DNS responder is not running yet, the case where records were only kept.
  { verb: 'SyncDnsRecords name (responder not running)', field: /name/, values: HOSTILE, call: unary('syncDnsRecords', (_h, bad) => ({ records: [{ name: bad, ipv4: '10.214.0.9' }] })) },
  // "" names the configured bridge (as in AcquireTap), so it is not hostile here.
  { verb: 'EnsureBridge bridge', field: /bridge/, values: HOSTILE.filter((s) => s !== ''), call: unary('ensureBridge', (_h, bad) => ({ bridge: bad, gatewayCidr: '10.214.0.1/24', mtu: 0 })) },
  {
    verb: 'SyncDnsRecords name (responder running)',
    field: /name/,
    values: HOSTILE,
    call: async (h, bad) => {
      // The configured bridge (idempotent) brings the responder up on its gateway address.
      const bridge = await h.attacker.call('ensureBridge', { bridge: '', gatewayCidr: '10.214.0.1/24', mtu: 0 });
      if (!bridge.ok) throw new Error(`EnsureBridge: ${bridge.err.details}`);
      return unary('syncDnsRecords', () => ({ records: [{ name: bad, ipv4: '10.214.0.9' }] }))(h, bad);
    },
  },
  { verb: 'ApplyNat bridge', field: /bridge/, values: HOSTILE.filter((s) => s !== ''), call: unary('applyNat', (_h, bad) => ({ bridge: bad, cidr: '10.214.0.0/24', egressInterface: '' })) },
  {
    verb: 'BuildRootfs recipe',
    field: /recipe/,
    values: HOSTILE,
    call: async (h, bad) => {
      const r = await h.attacker.stream('buildRootfs', { recipe: bad, kernel: kernel(h), init: 0 }, { timeoutMs: 20_000, cancelAfter: 1 });
      return r.err ? { ok: false, err: r.err } : { ok: true };
    },
  },
  {
    // A field privhelper does not honour (the image carries both PID 1s) is refused, not ignored.
    verb: 'BuildRootfs init',
    field: /init/,
    values: ['1', '2', '99'],
    call: async (h, bad) => {
      const r = await h.attacker.stream('buildRootfs', { recipe: 'debian-bookworm', kernel: kernel(h), init: Number(bad) }, { timeoutMs: 20_000, cancelAfter: 1 });
      return r.err ? { ok: false, err: r.err } : { ok: true };
    },
  },
  {
    verb: 'BuildRootfs kernel.name',
    field: /kernel\.name/,
    values: HOSTILE,
    call: async (h, bad) => {
      const r = await h.attacker.stream('buildRootfs', { recipe: 'debian-bookworm', kernel: { name: bad, version: '1' }, init: 0 }, { timeoutMs: 20_000, cancelAfter: 1 });
      return r.err ? { ok: false, err: r.err } : { ok: true };
    },
  },
];

/** Everything in privhelper's own directories (names only), to show a refused call made nothing. */
async function helperEntries(h: SecurityHarness): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [h.helper.vmsDir, h.helper.runVmsDir, h.helper.kernelsDir, h.helper.imagesDir, h.helper.buildDir]) {
    for (const name of await readdir(dir).catch(() => [] as string[])) out.push(path.join(dir, name));
  }
  return out.sort();
}

const show = (s: string): string => JSON.stringify(s.length > 24 ? `${s.slice(0, 12)}…(${s.length})` : s);

describe.skipIf(skip !== undefined)('security: every verb with hostile names', () => {
  const ctx = useHarness({ guest: true });

  for (const c of CASES) {
    it(`${c.verb}: ${c.values.length} hostile values are INVALID_ARGUMENT naming the field, with an op id, and change nothing`, async () => {
      const { h } = ctx;
      const v = await h.victims();
      const before = await h.hostSnapshot(v);
      const entries = await helperEntries(h);
      const wrong: string[] = [];
      const reasons = new Set<string>();
      for (const bad of c.values) {
        const r = await c.call(h, bad);
        if (r.ok) {
          wrong.push(`${show(bad)}: accepted`);
          continue;
        }
        const field = r.err.metadata['field'] ?? '';
        reasons.add(`${r.err.codeName} ${r.err.reason} (field ${field})`);
        if (r.err.codeName !== 'INVALID_ARGUMENT' || !c.field.test(field) || !OP_ID_PATTERN.test(r.err.opId)) {
          wrong.push(`${show(bad)}: ${r.err.codeName} ${r.err.reason} field=${field} op=${r.err.opId}: ${r.err.details.slice(0, 120)}`);
        }
      }
      const alive = await h.attacker.call('getServerInfo', {});
      evidence(`${c.values.length} values: ${[...reasons].join(', ')}${wrong.length ? `; WRONG: ${wrong.join('; ')}` : ''}`);
      expect(wrong).toEqual([]);
      expect(await helperEntries(h)).toEqual(entries);
      expect(await h.hostChanges(v, before)).toEqual([]);
      expect(alive.ok).toBe(true);
    });
  }
});
