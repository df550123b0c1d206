import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { OP_ID_PATTERN, RpcError } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostNetworkSnapshot } from '../harness/netns.js';
import { fakeKernelSources, stageKernel } from '../../services/privhelper/src/testing/store-fixtures.js';
import { HelperFixture, helperUnavailableReason } from './setup.js';

const exec = promisify(execFile);
const skip = await helperUnavailableReason();
if (skip) console.warn(`[skip] privhelper fuzz-style refusal test: ${skip}`);

const PER_VERB = 30;
const SEED = Number(process.env['BANGER_FUZZ_SEED'] ?? randomBytes(4).readUInt32BE(0));

/** mulberry32: small seeded PRNG so a failing run can be replayed with BANGER_FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Verb = Exclude<keyof typeof helperv2.HelperServiceService, 'buildRootfs'>;

interface Gen {
  str(): string;
  u32(): number;
  u64(): number;
  i32(): number;
  i64(): number;
  bool(): boolean;
  enumValue(): number;
  kernel(): { name: string; version: string } | undefined;
  list<T>(max: number, item: () => T): T[];
}

/** The tampered kernel staged for the run: InstallKernel reaches verification and must refuse it. */
const FZ_KERNEL = { name: 'fz-kernel', version: '1.0-fz' };
const FZ_IMAGE = 'fz-img';

function generators(rand: () => number, ctx: { stateDir: string; bridge: string; cidr: string; gateway: string; token: string; canary: string }): Gen {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ascii = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join('');
  const helper = path.join(ctx.stateDir, 'helper');
  const t = ctx.token;
  // No request field is a path any more; hostile callers send paths in the id fields instead.
  const strings = (): string[] => [
    '',
    `vm-${Math.floor(rand() * 1e6).toString(36)}`,
    'a',
    'fz-a',
    FZ_IMAGE,
    `promoted-fz-${Math.floor(rand() * 1e3)}`,
    FZ_KERNEL.name,
    FZ_KERNEL.version,
    ctx.bridge,
    ctx.gateway,
    ctx.cidr,
    'bgr-other',
    '10.213.0.7',
    'eth0',
    'lo',
    'ttyS0',
    '../',
    '..',
    '.',
    '../../../../tmp',
    `../../../../../tmp/bgr-fuzz-${t}`,
    `/tmp/bgr-fuzz-${t}`,
    '/etc/passwd',
    '/etc/shadow',
    '/dev/sda',
    '/proc/self/mem',
    ctx.canary,
    `${helper}/images/${FZ_IMAGE}/rootfs.ext4`,
    `${helper}/vms/fz-a/root.qcow2`,
    `${FZ_IMAGE}/../../vms`,
    `fz-a/../../../bgr-fuzz-${t}`,
    `${FZ_IMAGE},format=raw`,
    '; touch /tmp/bgr-fuzz-x',
    `$(touch /tmp/bgr-fuzz-${t})`,
    '`id`',
    '--help',
    '-rf',
    'a,b=c',
    'ü',
    '😀'.repeat(40),
    'vm-\u202e',
    'x\u0000y',
    'line\nbreak',
    ' ',
    'A'.repeat(16),
    'a'.repeat(65),
    'a'.repeat(129),
    'x'.repeat(5000),
    '../'.repeat(1500),
    `/${'p/'.repeat(3000)}`,
    ascii(Math.floor(rand() * 40)),
    ascii(Math.floor(rand() * 400)),
  ];
  // Extremes of each wire type: the client encoder refuses values outside a field's type
  // (-1 for a uint32), so "negative-ish" arrives as the all-ones pattern or a negative int64.
  const u32 = (): number[] => [0, 1, 7, 255, 256, 1400, 65_535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 16 * 2 ** 20, Math.floor(rand() * 2 ** 32)];
  const u64 = (): number[] => [...u32(), 2 ** 30, 17 * 2 ** 20 + 3, 2 ** 40, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 63, 2 ** 64 - 2 ** 12];
  const str = (): string => (rand() < 0.01 ? 'x'.repeat(5_000_000) : pick(strings()));
  return {
    str,
    u32: () => pick(u32()),
    /** uint64 fields, including values beyond 2^53 that the generated decoder refuses. */
    u64: () => pick(u64()),
    i32: () => pick([0, 1, -1, 999_999_999, 1_000_000_000, 2 ** 31 - 1, -(2 ** 31)]),
    i64: () => pick([0, 1, 2, -1, -(2 ** 31), 600, 601, 2 ** 40, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 62, -(2 ** 62)]),
    bool: () => rand() < 0.5,
    enumValue: () => Math.floor(rand() * 5),
    kernel: () => pick([undefined, FZ_KERNEL, { name: '../etc', version: '1' }, { name: FZ_KERNEL.name, version: str() }, { name: str(), version: str() }]),
    list: (max, item) => Array.from({ length: Math.floor(rand() * (max + 1)) }, item),
  };
}

function requestFor(verb: Verb, g: Gen): object {
  const H = helperv2;
  switch (verb) {
    case 'getServerInfo':
    case 'removeNat':
    case 'listHypervisors':
    case 'listKernels':
    case 'listImages':
    case 'listHeld':
    case 'listSnapshotFiles':
      return {};
    case 'probeHost':
      return { deep: g.bool() };
    case 'ensureBridge':
      return { bridge: g.str(), gatewayCidr: g.str(), mtu: g.u32() };
    case 'acquireTap':
      return { vmId: g.str(), bridge: g.str() };
    case 'releaseTap':
    case 'findHypervisor':
    case 'killHypervisor':
    case 'removeOverlay':
    case 'removeWorkDisk':
    case 'releaseVm':
    case 'pauseHypervisor':
    case 'resumeHypervisor':
    case 'suspendHypervisor':
    case 'describeSavedState':
    case 'discardSavedState':
      return { vmId: g.str() };
    case 'snapshotHypervisor':
    case 'createDisksFromSnapshot':
      return { vmId: g.str(), snapshotId: g.str() };
    case 'describeSnapshot':
    case 'deleteSnapshot':
      return { snapshotId: g.str() };
    case 'applyNat':
      return { bridge: g.str(), cidr: g.str(), egressInterface: g.str() };
    case 'fenceVm':
      return H.FenceVmRequest.fromPartial({
        vmId: g.str(),
        ipv4: g.str(),
        mac: g.bool() ? '02:42:0a:d5:00:09' : g.str(),
        ...(g.bool() ? { egress: { mode: g.enumValue(), cidrs: g.list(3, g.str), hostnames: g.list(3, g.str) } } : {}),
      });
    case 'syncDnsRecords':
      return { records: g.list(6, () => ({ name: g.str(), ipv4: g.str() })) };
    case 'installKernel':
    case 'removeKernel':
      return H.InstallKernelRequest.fromPartial({ kernel: g.kernel() });
    case 'removeImage':
      return { image: g.str() };
    case 'promoteVmDisk':
    case 'createOverlay':
      return { vmId: g.str(), image: g.str() };
    case 'createWorkDisk':
      return { vmId: g.str(), image: g.str(), sizeBytes: g.u64() };
    case 'resizeWorkDisk':
      return { vmId: g.str(), sizeBytes: g.u64() };
    case 'stopHypervisor':
    case 'waitHypervisor':
      return { vmId: g.str(), ...(g.bool() ? { timeout: { seconds: g.bool() ? Math.floor(g.u32() % 3) : g.i64(), nanos: g.i32() } } : {}) };
    case 'launchHypervisor':
    case 'restoreHypervisor':
    case 'restoreSnapshot':
      return {
        snapshotId: g.str(),
        spec: H.HypervisorSpec.fromPartial({
          vmId: g.str(),
          kind: g.enumValue(),
          accel: g.enumValue(),
          memoryMib: g.u32(),
          vcpus: g.u32(),
          kernel: g.kernel(),
          cmdline: g.list(4, () => ({ key: g.str(), value: g.str() })),
          workDisk: g.bool(),
          ...(g.bool() ? { network: { mac: g.bool() ? '02:42:0a:d5:00:09' : g.str() } } : {}),
        }),
      };
  }
}

async function topLevel(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

async function filesContaining(dir: string, needle: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((p) => p.includes(needle));
}

describe.skipIf(skip !== undefined)('privhelper daemon: random field values for every unary verb never crash it or touch the host', () => {
  let f: HelperFixture;
  const token = randomBytes(4).toString('hex');
  let canary = '';

  beforeAll(async () => {
    f = await HelperFixture.start();
    await f.putImage(FZ_IMAGE);
    // Held by a VM disk, so a random RemoveImage meets IMAGE_IN_USE instead of emptying the store.
    await f.call('createOverlay', { vmId: 'fz-hold', image: FZ_IMAGE });
    // A staged kernel whose manifest does not match its files: every install must be refused.
    await stageKernel(path.join(f.stateDir, 'kernels'), FZ_KERNEL, fakeKernelSources('fz'), {
      editManifest: (m) => void ((m['artifacts'] as Record<string, { sha256: string }>)['vmlinux']!.sha256 = '0'.repeat(64)),
    });
    canary = path.join(f.stack.dir, 'canary.ext4');
    await writeFile(canary, 'canary: privhelper must never write here\n');
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
  });
  afterAll(async () => {
    await f?.close();
  });

  it(`${PER_VERB} random requests per verb: each answered (error with the sent op id, or success), daemon alive, host untouched`, async () => {
    console.info(`[privhelper-fuzz] seed ${SEED} (replay with BANGER_FUZZ_SEED=${SEED}), token ${token}`);
    const g = generators(prng(SEED), { stateDir: f.stateDir, bridge: f.bridge, cidr: f.cidr, gateway: f.gatewayCidr, token, canary });
    const hostBefore = await hostNetworkSnapshot();
    const rootBefore = await topLevel('/');
    const tmpBefore = await topLevel('/tmp');
    const passwd = await stat('/etc/passwd');
    const canaryBefore = await stat(canary);

    const verbs = (Object.keys(helperv2.HelperServiceService) as (keyof typeof helperv2.HelperServiceService)[]).filter(
      (k): k is Verb => !helperv2.HelperServiceService[k].responseStream,
    );
    // Every unary verb has a generator: requestFor's switch is exhaustive over Verb, so tsc fails
    // on a new verb without one. Here only a sanity floor, so adding a verb does not edit this test.
    expect(verbs.length).toBeGreaterThan(30);
    const outcomes = new Map<string, Map<string, number>>();
    const unexpected: string[] = [];
    for (const verb of verbs) {
      const tally = new Map<string, number>();
      outcomes.set(verb, tally);
      const reqs = Array.from({ length: PER_VERB }, () => requestFor(verb, g));
      for (let i = 0; i < reqs.length; i += 6) {
        await Promise.all(
          reqs.slice(i, i + 6).map(async (req) => {
            const sent = () => f.calls.at(-1)?.opId;
            const out = await f.call(verb, req as never, 60_000).then(
              () => 'OK',
              (err: unknown) => err,
            );
            if (out === 'OK') return tally.set('OK', (tally.get('OK') ?? 0) + 1);
            if (!(out instanceof RpcError)) return unexpected.push(`${verb}: non-gRPC failure ${String(out)}`);
            const key = `${out.codeName}/${out.reason}`;
            tally.set(key, (tally.get(key) ?? 0) + 1);
            if (!OP_ID_PATTERN.test(out.opId ?? '')) unexpected.push(`${verb}: ${key} without an op id (${sent()})`);
            if (out.code === grpc.status.INTERNAL || out.code === grpc.status.UNKNOWN || out.code === grpc.status.UNAVAILABLE) {
              unexpected.push(`${verb}: ${key}: ${out.details.slice(0, 160)}`);
            }
            return undefined;
          }),
        );
      }
      expect(f.alive(), `privhelper died during ${verb}`).toBe(true);
    }
    const summary = [...outcomes].map(([v, t]) => `${v}: ${[...t].map(([k, n]) => `${k}×${n}`).join(' ')}`);
    console.info(`[privhelper-fuzz] outcomes\n  ${summary.join('\n  ')}`);

    // Still serving, and every call was answered with its own op id and logged once.
    expect(f.alive()).toBe(true);
    expect((await f.call('getServerInfo', {})).info?.pid).toBe(f.daemon.child.pid);
    expect(unexpected).toEqual([]);
    expect(f.calls.length).toBe(verbs.length * PER_VERB + 3);
    expect(await f.completionProblems()).toEqual([]);
    expect(f.daemon.stray).toEqual([]);

    // No VM was started by random values; if one were, stop it by PID before failing.
    const running = (await f.call('listHypervisors', {})).processes;
    for (const p of running) f.qemuPids.add(p.pid);
    expect(running).toEqual([]);
    // The tampered kernel never got into the store, and the held image is still there.
    expect((await f.call('listKernels', {})).kernels).toEqual([]);
    expect(outcomes.get('installKernel')?.get('OK')).toBeUndefined();
    expect((await f.call('listImages', {})).images.map((i) => i.image)).toContain(FZ_IMAGE);

    // Nothing outside the stack dir and the test netns changed.
    const hostAfter = await hostNetworkSnapshot();
    expect(hostAfter.links).toEqual(hostBefore.links);
    expect(hostAfter.tables).toEqual(hostBefore.tables);
    expect(await topLevel('/')).toEqual(rootBefore);
    const tmpNew = (await topLevel('/tmp')).filter((e) => !tmpBefore.includes(e));
    if (tmpNew.length > 0) console.info(`[privhelper-fuzz] new /tmp entries during the run (other sessions share /tmp): ${tmpNew.join(' ')}`);
    expect(tmpNew.filter((e) => e.includes(token) || e.startsWith('bgr-fuzz'))).toEqual([]);
    expect(await filesContaining(f.stack.dir, token)).toEqual([]);
    const passwdAfter = await stat('/etc/passwd');
    expect([passwdAfter.size, passwdAfter.mtimeMs]).toEqual([passwd.size, passwd.mtimeMs]);
    const canaryAfter = await stat(canary);
    expect([canaryAfter.size, canaryAfter.mtimeMs]).toEqual([canaryBefore.size, canaryBefore.mtimeMs]);
    expect(await readFile(canary, 'utf8')).toBe('canary: privhelper must never write here\n');
    // The host ruleset has no banger table; any NAT the fuzz applied lives in the netns.
    const { stdout } = await exec('nft', ['list', 'tables']);
    expect(stdout).not.toMatch(/inet banger/);
  });
});
