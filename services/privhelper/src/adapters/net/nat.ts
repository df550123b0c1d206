import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseCidr } from '../../domain/network/cidr.js';
import { NetError } from '../../domain/network/errors.js';
import { validateBridgeName, validateUplinkName } from '../../domain/network/names.js';
import type { NatPlan } from '../../domain/network/natRuleset.js';
import { natFingerprint, NFT_FAMILY, NFT_TABLE, renderAllowResolved, renderNatRemoval, renderNatRuleset, renderVmFence, renderVmUnfence } from '../../domain/network/natRuleset.js';
import { sameEgressPolicy } from '../../domain/network/egressPolicy.js';
import type { VmFence } from '../../domain/network/vmFence.js';
import { TAP_PREFIX, validateTapPrefix } from '../../domain/network/names.js';
import { Mutex } from './mutex.js';
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
  /** The tap pool's prefix: ports with it are guests and fenced (default "bgrtap"). */
  readonly tapPrefix?: string | undefined;
  readonly log?: Logger | undefined;
  /**
   * Where the fences are kept across a helper restart (a root-only directory of privhelper's
   * run root). Without it a restarted helper's first ApplyNat would render the table with no
   * fences, and every running VM's tap would pass nothing.
   */
  readonly fenceFile?: string | undefined;
}

/**
 * Guest egress and guest fences through nftables, confined to banger's own `inet banger` and
 * `bridge banger` tables. The fences of the VMs live here too (keyed by VM id), so a re-apply
 * of the tables re-installs them; changes run one at a time.
 */
export class NatAdapter {
  readonly table = `${NFT_FAMILY} ${NFT_TABLE}`;
  private readonly log: Logger;
  private readonly tapPrefix: string;
  private readonly mutex = new Mutex();
  private readonly fences = new Map<string, VmFence>();
  private plan: NatPlan | undefined;

  constructor(
    private readonly run: NetRunner,
    private readonly opts: NatOptions = {},
  ) {
    this.log = opts.log ?? quietLogger();
    this.tapPrefix = validateTapPrefix(opts.tapPrefix ?? TAP_PREFIX);
  }

  /**
   * Replaces banger's table atomically with the plan's rules, every time, so hand edits to the
   * table are repaired; `changed` reports whether the previous table was a different plan.
   */
  apply(input: ApplyNatInput): Promise<{ table: string; changed: boolean }> {
    return this.mutex.run(() => this.applyLocked(input));
  }

  private async applyLocked(input: ApplyNatInput): Promise<{ table: string; changed: boolean }> {
    const bridge = validateBridgeName(input.bridge);
    const cidr = parseCidr(input.cidr);
    const uplink = input.egressInterface === undefined || input.egressInterface === '' ? undefined : validateUplinkName(input.egressInterface);
    if (uplink === bridge) throw new NetError('INVALID_ARGUMENT', 'BAD_NAME', 'egress_interface: must not be the bridge', { field: 'egress_interface' });
    const plan: NatPlan = { bridge, cidr, uplink, tapPrefix: this.tapPrefix };
    const changed = (await this.currentFingerprint()) !== natFingerprint(plan);
    await tolerate(() => this.run.nft(['-f', '-'], renderNatRuleset(plan, [...this.fences.values()])), 'apply nat table', [], { table: this.table });
    this.plan = plan;
    if (this.opts.manageIpForward === true) await this.enableForwarding();
    this.log.info({ table: this.table, cidr: cidr.text, uplink: uplink ?? '*', changed }, 'nat applied');
    return { table: this.table, changed };
  }

  /** Deletes banger's tables only; absent is a no-op. The fences go with them. */
  remove(): Promise<{ removed: boolean }> {
    return this.mutex.run(() => this.removeLocked());
  }

  /** The fence applied to a VM, if any. */
  fenceOf(vmId: string): VmFence | undefined {
    return this.fences.get(vmId);
  }

  /** Every applied fence (for the DNS forwarder's hostname policies). */
  allFences(): VmFence[] {
    return [...this.fences.values()];
  }

  /**
   * Pins a VM's tap and applies its policy in one nft transaction that writes only this VM's
   * objects. An address another VM holds is refused, so one VM cannot take over another's
   * traffic by claiming its IP.
   */
  fence(f: VmFence): Promise<{ changed: boolean }> {
    return this.mutex.run(async () => {
      const plan = this.plan;
      if (plan === undefined) throw new NetError('FAILED_PRECONDITION', 'NAT_NOT_APPLIED', 'apply NAT (ApplyNat) before fencing a VM');
      for (const other of this.fences.values()) {
        if (other.vmId === f.vmId) continue;
        if (other.ipv4 === f.ipv4) throw new NetError('ALREADY_EXISTS', 'IP_IN_USE', `ipv4: ${f.ipv4} belongs to another VM`, { field: 'ipv4', vm_id: f.vmId });
        if (other.tap === f.tap) throw new NetError('ALREADY_EXISTS', 'TAP_IN_USE', `tap ${f.tap} is fenced for another VM`, { vm_id: f.vmId });
      }
      const prev = this.fences.get(f.vmId);
      if (prev !== undefined && prev.tap === f.tap && prev.ipv4 === f.ipv4 && prev.mac === f.mac && sameEgressPolicy(prev.egress, f.egress)) return { changed: false };
      await tolerate(() => this.run.nft(['-f', '-'], `${renderVmFence(plan, prev, f).join('\n')}\n`), 'fence vm', [], { vm_id: f.vmId, tap: f.tap });
      this.fences.set(f.vmId, f);
      await this.saveFences();
      this.log.info({ vm_id: f.vmId, tap: f.tap, ipv4: f.ipv4, egress: f.egress.mode, cidrs: f.egress.cidrs.length, hostnames: f.egress.hostnames.length }, 'vm fenced');
      return { changed: true };
    });
  }

  /** Removes a VM's fence (its tap then passes nothing); no-op when it has none. */
  unfence(vmId: string): Promise<{ removed: boolean }> {
    return this.mutex.run(async () => {
      const f = this.fences.get(vmId);
      if (f === undefined) return { removed: false };
      await tolerate(() => this.run.nft(['-f', '-'], `${renderVmUnfence(f).join('\n')}\n`), 'unfence vm', [], { vm_id: vmId, tap: f.tap });
      this.fences.delete(vmId);
      await this.saveFences();
      this.log.info({ vm_id: vmId, tap: f.tap }, 'vm unfenced');
      return { removed: true };
    });
  }

  /**
   * After a restart: takes back the fences the last helper saved, only for taps the kernel
   * still marks with the same VM (a tap given to another VM since never inherits a fence). They
   * reach the kernel with the next ApplyNat, which renders every fence; until then the table
   * the last helper left holds them.
   */
  restoreFences(held: ReadonlyMap<string, string>): Promise<number> {
    return this.mutex.run(async () => {
      const file = this.opts.fenceFile;
      if (file === undefined) return 0;
      const text = await readFile(file, 'utf8').catch(() => undefined);
      let saved: unknown = [];
      try {
        saved = text === undefined ? [] : JSON.parse(text);
      } catch (err) {
        this.log.warn({ file, err }, 'saved fences unreadable; starting with none');
      }
      const dropped: VmFence[] = [];
      for (const f of Array.isArray(saved) ? (saved as VmFence[]) : []) {
        if (typeof f?.vmId !== 'string') continue;
        if (held.get(f.vmId) === f.tap) this.fences.set(f.vmId, f);
        else if (typeof f.tap === 'string' && typeof f.ipv4 === 'string' && typeof f.mac === 'string') dropped.push(f);
      }
      // Their elements would otherwise stay in the kernel's sets with no fence to account for
      // them (until the next ApplyNat renders the table whole), pinning a tap name a new tap may get.
      // A tap name or address a restored fence uses again is left to that fence (its chain is named by the tap).
      const kept = [...this.fences.values()];
      for (const f of dropped.filter((d) => !kept.some((k) => k.tap === d.tap || k.ipv4 === d.ipv4))) {
        try {
          await tolerate(() => this.run.nft(['-f', '-'], `${renderVmUnfence(f).join('\n')}\n`), 'unfence vm', [], { vm_id: f.vmId, tap: f.tap });
          this.log.info({ vm_id: f.vmId, tap: f.tap }, 'saved fence of a tap no longer the vm\'s removed from the kernel');
        } catch (err) {
          this.log.warn({ err, vm_id: f.vmId, tap: f.tap }, 'could not remove a saved fence whose tap is gone; the next ApplyNat renders the table without it');
        }
      }
      await this.saveFences();
      this.log.info({ restored: this.fences.size }, 'fences restored');
      return this.fences.size;
    });
  }

  private async saveFences(): Promise<void> {
    const file = this.opts.fenceFile;
    if (file === undefined) return;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify([...this.fences.values()])}\n`, { mode: 0o600 });
    await rename(tmp, file);
  }

  /** Opens addresses a VM's listed hostname resolved to, for `ttlSeconds`; ignored for a VM no longer fenced. */
  allowResolved(vmId: string, addrs: readonly string[], ttlSeconds: number): Promise<boolean> {
    return this.mutex.run(async () => {
      const f = this.fences.get(vmId);
      if (f === undefined || f.egress.mode !== 'list' || addrs.length === 0) return false;
      await tolerate(() => this.run.nft(['-f', '-'], renderAllowResolved(f, addrs, ttlSeconds)), 'allow resolved', [], { vm_id: vmId });
      return true;
    });
  }

  private async removeLocked(): Promise<{ removed: boolean }> {
    const present = (await this.currentFingerprint()) !== undefined;
    await tolerate(() => this.run.nft(['-f', '-'], renderNatRemoval()), 'remove nat table', [], { table: this.table });
    this.fences.clear();
    await this.saveFences();
    this.plan = undefined;
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
