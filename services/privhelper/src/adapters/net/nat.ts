import type { Logger } from 'pino';
import { parseCidr } from '../../domain/network/cidr.js';
import { NetError } from '../../domain/network/errors.js';
import { validateBridgeName, validateUplinkName } from '../../domain/network/names.js';
import { natFingerprint, NFT_FAMILY, NFT_TABLE, renderNatRemoval, renderNatRuleset } from '../../domain/network/natRuleset.js';
import type { NetRunner } from './exec.js';
import { classify, tolerate } from './exec.js';
import { quietLogger } from './log.js';

export interface ApplyNatInput {
  readonly bridge: string;
  /** Guest network, e.g. "172.30.0.0/24". */
  readonly cidr: string;
  /** Egress interface; undefined or "" means any interface but the bridge (wherever the default route goes). */
  readonly egressInterface?: string | undefined;
}

export interface NatOptions {
  /**
   * Also switch on IPv4 forwarding, which guest egress needs. Inside a named namespace this is
   * that namespace's own sysctl; on the host it happens only when `allowHostIpForward` is set.
   */
  readonly manageIpForward?: boolean | undefined;
  readonly allowHostIpForward?: boolean | undefined;
  readonly log?: Logger | undefined;
}

/** Guest egress through nftables, confined to banger's own `inet banger` table. */
export class NatAdapter {
  readonly table = `${NFT_FAMILY} ${NFT_TABLE}`;
  private readonly log: Logger;

  constructor(
    private readonly run: NetRunner,
    private readonly opts: NatOptions = {},
  ) {
    this.log = opts.log ?? quietLogger();
  }

  /**
   * Replaces banger's table atomically with the plan's rules, every time, so hand edits to the
   * table are repaired; `changed` reports whether the previous table was a different plan.
   */
  async apply(input: ApplyNatInput): Promise<{ table: string; changed: boolean }> {
    const bridge = validateBridgeName(input.bridge);
    const cidr = parseCidr(input.cidr);
    const uplink = input.egressInterface === undefined || input.egressInterface === '' ? undefined : validateUplinkName(input.egressInterface);
    if (uplink === bridge) throw new NetError('INVALID_ARGUMENT', 'BAD_NAME', 'egress_interface: must not be the bridge', { field: 'egress_interface' });
    const plan = { bridge, cidr, uplink };
    const changed = (await this.currentFingerprint()) !== natFingerprint(plan);
    await tolerate(() => this.run.nft(['-f', '-'], renderNatRuleset(plan)), 'apply nat table', [], { table: this.table });
    if (this.opts.manageIpForward === true) await this.enableForwarding();
    this.log.info({ table: this.table, cidr: cidr.text, uplink: uplink ?? '*', changed }, 'nat applied');
    return { table: this.table, changed };
  }

  /** Deletes banger's table only; absent is a no-op. */
  async remove(): Promise<{ removed: boolean }> {
    const present = (await this.currentFingerprint()) !== undefined;
    await tolerate(() => this.run.nft(['-f', '-'], renderNatRemoval()), 'remove nat table', [], { table: this.table });
    this.log.info({ table: this.table, removed: present }, 'nat removed');
    return { removed: present };
  }

  /** The table as `nft -j` prints it, or undefined when absent. */
  async inspect(): Promise<unknown[] | undefined> {
    const out = await tolerate(() => this.run.nft(['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]), 'list nat table', ['NOT_FOUND'], { table: this.table });
    if (out === undefined) return undefined;
    const doc = JSON.parse(out.stdout) as { nftables?: unknown[] };
    return doc.nftables ?? [];
  }

  /** The fingerprint comment of the live table: undefined when absent, null when not banger's format. nft 1.0 omits table comments from JSON, hence the text listing. */
  private async currentFingerprint(): Promise<string | null | undefined> {
    const out = await tolerate(() => this.run.nft(['list', 'table', NFT_FAMILY, NFT_TABLE]), 'list nat table', ['NOT_FOUND'], { table: this.table });
    if (out === undefined) return undefined;
    return /^\s*comment "(banger:nat:[0-9a-f]+)"/m.exec(out.stdout)?.[1] ?? null;
  }

  private async enableForwarding(): Promise<void> {
    try {
      if (this.run.netns !== undefined) await this.run.sysctlInNetns('net.ipv4.ip_forward', '1');
      else if (this.opts.allowHostIpForward === true) await this.run.sysctlHost('net.ipv4.ip_forward', '1');
      else throw new NetError('FAILED_PRECONDITION', 'HOST_SYSCTL_REFUSED', 'enabling host ip_forward needs allowHostIpForward');
    } catch (err) {
      throw classify(err, 'enable ip_forward');
    }
  }
}
