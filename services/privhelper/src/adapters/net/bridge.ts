import type { Logger } from 'pino';
import { NetError } from '../../domain/network/errors.js';
import { validateBridgeName } from '../../domain/network/names.js';
import { ipv4ToString, parseGatewayCidr } from '../../domain/network/cidr.js';
import { invalidArg } from '../../domain/network/errors.js';
import type { NetRunner } from './exec.js';
import { classify, tolerate } from './exec.js';
import { deleteLink, getLink } from './links.js';
import { quietLogger } from './log.js';

export interface EnsureBridgeInput {
  readonly bridge: string;
  /** Gateway address with prefix, e.g. "172.30.0.1/24". */
  readonly gatewayCidr: string;
  /** 0 or undefined keeps the kernel default. */
  readonly mtu?: number | undefined;
}

export interface EnsureBridgeResult {
  readonly bridge: string;
  /** False when the bridge already existed. */
  readonly created: boolean;
}

interface AddrInfo {
  family?: unknown;
  local?: unknown;
  prefixlen?: unknown;
}

/** The guests' L2 segment: a Linux bridge holding the gateway address. */
export class BridgeAdapter {
  private readonly log: Logger;
  constructor(
    private readonly run: NetRunner,
    log?: Logger,
  ) {
    this.log = log ?? quietLogger();
  }

  /**
   * Converges to "bridge exists, has exactly this IPv4 gateway address, is up". Safe to call
   * repeatedly; a non-bridge device of the same name is a real conflict (ALREADY_EXISTS).
   */
  async ensure(input: EnsureBridgeInput): Promise<EnsureBridgeResult> {
    const bridge = validateBridgeName(input.bridge);
    const { cidr, gateway } = parseGatewayCidr(input.gatewayCidr);
    const mtu = input.mtu ?? 0;
    if (!Number.isSafeInteger(mtu) || mtu < 0 || (mtu !== 0 && (mtu < 576 || mtu > 65_535))) throw invalidArg('mtu', 'OUT_OF_RANGE', 'must be 0 or 576-65535');
    const fields = { bridge };
    let created = false;
    const existing = await getLink(this.run, bridge);
    if (existing === undefined) {
      try {
        await this.run.ip(['link', 'add', 'name', bridge, 'type', 'bridge']);
        created = true;
      } catch (err) {
        const e = classify(err, `create bridge ${bridge}`, fields);
        if (e.kind !== 'ALREADY_EXISTS') throw e;
      }
    }
    const now = existing ?? (await getLink(this.run, bridge));
    if (now?.kind !== 'bridge') {
      throw new NetError('ALREADY_EXISTS', 'NOT_A_BRIDGE', `${bridge} exists and is not a bridge`, fields);
    }
    const want = `${ipv4ToString(gateway)}/${cidr.prefix}`;
    const addrs = await this.ipv4Addrs(bridge);
    for (const a of addrs) if (a !== want) await tolerate(() => this.run.ip(['addr', 'del', a, 'dev', bridge]), `remove address from ${bridge}`, ['NOT_FOUND'], fields);
    if (!addrs.includes(want)) {
      await tolerate(() => this.run.ip(['addr', 'replace', want, 'dev', bridge]), `address ${bridge}`, [], fields);
    }
    const linkArgs = ['link', 'set', 'dev', bridge, ...(mtu !== 0 ? ['mtu', String(mtu)] : []), 'up'];
    await tolerate(() => this.run.ip(linkArgs), `bring up ${bridge}`, [], fields);
    this.log.info({ bridge, gateway: want, created }, 'bridge ensured');
    return { bridge, created };
  }

  /** Deletes the bridge (its taps are detached by the kernel); absent is a no-op. */
  async remove(name: string): Promise<{ removed: boolean }> {
    const bridge = validateBridgeName(name);
    const link = await getLink(this.run, bridge);
    if (link === undefined) return { removed: false };
    if (link.kind !== 'bridge') throw new NetError('FAILED_PRECONDITION', 'NOT_A_BRIDGE', `${bridge} is not a bridge; refusing to delete it`, { bridge });
    const removed = await deleteLink(this.run, bridge);
    this.log.info({ bridge, removed }, 'bridge removed');
    return { removed };
  }

  private async ipv4Addrs(bridge: string): Promise<string[]> {
    const out = await tolerate(() => this.run.ip(['-j', '-4', 'addr', 'show', 'dev', bridge]), `list addresses of ${bridge}`, [], { bridge });
    const raw: unknown = JSON.parse(out?.stdout.trim() || '[]');
    const result: string[] = [];
    if (!Array.isArray(raw)) return result;
    for (const l of raw as { addr_info?: AddrInfo[] }[]) {
      for (const a of l.addr_info ?? []) {
        if (a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number') result.push(`${a.local}/${a.prefixlen}`);
      }
    }
    return result;
  }
}
