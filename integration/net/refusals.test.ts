import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeAdapter, cleanupNetwork, DnsServer, NatAdapter, NetRunner, TapPool } from '../../services/privhelper/src/adapters/net/index.js';
import * as domain from '../../services/privhelper/src/domain/network/index.js';
import { NetError } from '../../services/privhelper/src/domain/network/errors.js';
import type { DnsRecord } from '../../services/privhelper/src/domain/network/dnsRecords.js';
import { hostNetworkSnapshot, Netns, netnsUnavailableReason } from '../harness/netns.js';

const skip = netnsUnavailableReason();
if (skip) console.warn(`[integration/net] refusal and fuzz tests skipped: ${skip}`);

/** Small seeded PRNG so a failing fuzz run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = ['bgr-f0', 'bgrtap', 'vm-1', '10.77.0.0/24', '10.77.0.1/24', 'web', '1.2.3.4', 'eth0', 'lo', 'bgr-', '0.0.0.0/0'];
const NASTY = ['', ' ', '\0', '"', '\n', ';', '../', '$(reboot)', '`id`', 'é', '🦀', '-', '/', 'A', '%s', '\\', '\u202e'];

function fuzzValue(r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  switch (Math.floor(r() * 9)) {
    case 0:
      return pick([null, undefined, true, {}, [], NaN, Infinity, -1, 0, 2 ** 53, 1.5, 65_536, 4_294_967_295]);
    case 1:
      return Math.floor(r() * 2 ** 32) - 2 ** 31;
    case 2:
      return 'x'.repeat(Math.floor(r() * 300));
    case 3:
      return String.fromCharCode(...Array.from({ length: Math.floor(r() * 20) }, () => Math.floor(r() * 0x3000)));
    case 4: {
      const s = pick(SEEDS);
      const i = Math.floor(r() * (s.length + 1));
      return s.slice(0, i) + pick(NASTY) + s.slice(i + (r() < 0.5 ? 1 : 0));
    }
    case 5:
      return `${Math.floor(r() * 300)}.${Math.floor(r() * 300)}.${Math.floor(r() * 300)}.${Math.floor(r() * 300)}/${Math.floor(r() * 40)}`;
    case 6:
      return `bgr-${Math.floor(r() * 1e6).toString(36)}`;
    default:
      return pick(SEEDS);
  }
}

async function mustBeTyped(f: () => unknown): Promise<'ok' | NetError> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof NetError)) throw new Error(`untyped error: ${String(e)}`, { cause: e });
    expect(e.reason).toMatch(/^[A-Z][A-Z0-9_]*$/);
    return e;
  }
}

describe.skipIf(skip !== undefined)('refusals and fuzzing, confined to a throwaway netns', () => {
  let ns: Netns;
  let run: NetRunner;
  let hostBefore: Awaited<ReturnType<typeof hostNetworkSnapshot>>;

  beforeAll(async () => {
    hostBefore = await hostNetworkSnapshot();
    ns = await Netns.create();
    run = new NetRunner({ netns: ns.name });
  });
  afterAll(async () => {
    if (ns) await ns.destroy();
  });

  it('refuses bad CIDRs, names and oversize values with INVALID_ARGUMENT naming the field', async () => {
    const br = new BridgeAdapter(run);
    const cases: [() => unknown, string, string][] = [
      [() => br.ensure({ bridge: 'bgr-x', gatewayCidr: '10.0.0.1/31' }), 'BAD_CIDR', 'gateway_cidr'],
      [() => br.ensure({ bridge: 'bgr-x', gatewayCidr: '300.0.0.1/24' }), 'BAD_CIDR', 'gateway_cidr'],
      [() => br.ensure({ bridge: 'br0', gatewayCidr: '10.0.0.1/24' }), 'BAD_NAME', 'bridge'],
      [() => br.ensure({ bridge: `bgr-${'a'.repeat(12)}`, gatewayCidr: '10.0.0.1/24' }), 'BAD_NAME', 'bridge'],
      [() => br.ensure({ bridge: 'bgr-x', gatewayCidr: '10.0.0.1/24', mtu: 1e9 }), 'OUT_OF_RANGE', 'mtu'],
      [() => new NatAdapter(run).apply({ bridge: 'bgr-x', cidr: '10.0.0.0/7' }), 'BAD_CIDR', 'cidr'],
      [() => new TapPool(run, { bridge: 'bgr-x', ownerUid: -1 }), 'OUT_OF_RANGE', 'owner_uid'],
      [() => new TapPool(run, { bridge: 'bgr-x', ownerUid: 0, warmSize: 10_000 }), 'OUT_OF_RANGE', 'warm_size'],
      [() => new TapPool(run, { bridge: 'bgr-x', ownerUid: 0, prefix: 'bgrtap-long-' }), 'BAD_NAME', 'tap_prefix'],
      [() => new TapPool(run, { bridge: 'bgr-x', ownerUid: 0 }).acquire('x'.repeat(65)), 'BAD_VM_ID', 'vm_id'],
      [() => new DnsServer().syncRecords([{ name: 'a'.repeat(64), ipv4: '1.2.3.4' }]), 'BAD_DNS_LABEL', 'records[0].name'],
      [() => new DnsServer({ ttl: 10 ** 7 }), 'OUT_OF_RANGE', 'ttl'],
      [() => new NetRunner({ netns: 'a/b' }), 'BAD_NAME', 'netns'],
    ];
    for (const [f, reason, field] of cases) {
      const e = await mustBeTyped(f);
      expect(e).not.toBe('ok');
      expect(e).toMatchObject({ kind: 'INVALID_ARGUMENT', reason, fields: { field } });
    }
    expect(await ns.linkNames()).toEqual(['lo']);
  });

  it('fuzz: random values into every validator and verb throw typed errors only and stay in the netns', async () => {
    const seed = Number(process.env['FUZZ_SEED'] ?? randomInt(0, 2 ** 31));
    console.info(`[integration/net] fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const r = prng(seed);
    const v = () => fuzzValue(r);
    const validators: ((x: unknown) => unknown)[] = [
      (x) => domain.validateBridgeName(x),
      (x) => domain.validateTapPrefix(x),
      (x) => domain.validateVmId(x),
      (x) => domain.validateDnsLabel(x),
      (x) => domain.validateNetnsName(x),
      (x) => domain.validateUplinkName(x),
      (x) => domain.parseCidr(x),
      (x) => domain.parseGatewayCidr(x),
      (x) => domain.parseIpv4(x),
      (x) => domain.validateRecords(x),
      (x) => domain.validateRecords([{ name: x, ipv4: v() }]),
      (x) => domain.allocateIpv4(domain.parseCidr('10.77.0.0/24'), x as string, new Set()),
      (x) => domain.macForVm(x as string),
      (x) => domain.tapName('bgrtap', x as number),
    ];
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const f = validators[i % validators.length];
      if ((await mustBeTyped(() => f?.(v()))) === 'ok') ok++;
      else refused++;
    }
    const dns = new DnsServer();
    const verbs: (() => unknown)[] = [
      () => new BridgeAdapter(run).ensure({ bridge: v() as string, gatewayCidr: v() as string, mtu: v() as number }),
      () => new BridgeAdapter(run).remove(v() as string),
      () => new TapPool(run, { bridge: v() as string, ownerUid: v() as number, prefix: v() as string, warmSize: 1 }).acquire(v() as string),
      () => new TapPool(run, { bridge: 'bgr-f0', ownerUid: 1000, warmSize: 0 }).acquire(v() as string),
      () => new TapPool(run, { bridge: 'bgr-f0', ownerUid: 1000, warmSize: 0 }).release(v() as string),
      () => new NatAdapter(run).apply({ bridge: v() as string, cidr: v() as string, egressInterface: v() as string }),
      () => dns.syncRecords(v() as DnsRecord[]),
      () => dns.syncRecords([{ name: v() as string, ipv4: v() as string }]),
      () => new NetRunner({ netns: v() as string }),
      () => cleanupNetwork(run, { bridge: v() as string, tapPrefix: v() as string }),
    ];
    await new BridgeAdapter(run).ensure({ bridge: 'bgr-f0', gatewayCidr: '10.77.0.1/24' });
    for (let i = 0; i < 400; i++) {
      const f = verbs[i % verbs.length];
      if ((await mustBeTyped(() => f?.())) === 'ok') ok++;
      else refused++;
    }
    console.info(`[integration/net] fuzz: ${ok} accepted, ${refused} refused with typed errors`);
    expect(refused).toBeGreaterThan(0);
    const links = await ns.linkNames();
    expect(links.filter((n) => n !== 'lo' && !n.startsWith('bgr'))).toEqual([]);
    const tables = (await ns.must('nft', ['list', 'tables'])).split('\n').filter((l) => l.length > 0);
    expect(tables.filter((t) => t !== 'table inet banger' && t !== 'table bridge banger')).toEqual([]);
  });

  it('left the host\'s interfaces and nft tables alone', async () => {
    const after = await hostNetworkSnapshot();
    expect(after.links.filter((l) => !hostBefore.links.includes(l) && l.startsWith('bgr'))).toEqual([]);
    expect(after.tables.includes('table inet banger')).toBe(hostBefore.tables.includes('table inet banger'));
  });
});
