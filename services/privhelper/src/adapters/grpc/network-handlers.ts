import type { helperv2 } from '@banger/api';
import { InvalidArgumentError, unary } from '@banger/runtime';
import type { Logger } from 'pino';
import { FailedPreconditionError } from '@banger/runtime';
import type { NetworkConfig } from '../../domain/network/index.js';
import { ALLOW_ALL, validateEgressPolicy } from '../../domain/network/egressPolicy.js';
import type { EgressPolicy } from '../../domain/network/egressPolicy.js';
import { validateVmId } from '../../domain/network/names.js';
import { validateGuestIpv4, validateGuestMac } from '../../domain/network/vmFence.js';
import { hostSetOf, renderAllowedAddrs } from '../../domain/network/natRuleset.js';
import { BridgeAdapter, DnsServer, NatAdapter, NetRunner, TapPool } from '../net/index.js';
import { NetnsDnsProcess } from '../net/dnsProcess.js';
import type { HeldFence } from '../../ports/stores.js';

/**
 * The network verbs over one validated NetworkConfig: one bridge, its tap pool, banger's
 * nftables table and the `.vm` DNS responder. The bridge named in a request must be the
 * configured one: privhelper never touches interfaces it does not own.
 */
export class NetworkVerbs {
  private readonly bridge: BridgeAdapter;
  private readonly taps: TapPool;
  private readonly nat: NatAdapter;
  private readonly dns: DnsServer | NetnsDnsProcess;
  private dnsListening: Promise<unknown> | undefined;
  /** The names last synced to the responder (which keeps them in memory only, like this). */
  private dnsNames: readonly string[] = [];

  constructor(
    private readonly cfg: NetworkConfig,
    private readonly log: Logger,
    opts: { fenceFile?: string } = {},
  ) {
    const run = new NetRunner(cfg.netns ? { netns: cfg.netns } : {});
    this.bridge = new BridgeAdapter(run, log);
    this.taps = new TapPool(run, { bridge: cfg.bridge, prefix: cfg.tapPrefix, ownerUid: cfg.tapOwnerUid, ownerGid: cfg.tapOwnerGid, warmSize: cfg.tapWarmSize, maxFree: cfg.tapMaxFree, maxTaps: cfg.tapMax, log });
    this.nat = new NatAdapter(run, { manageIpForward: cfg.manageIpForward, tapPrefix: cfg.tapPrefix, log, fenceFile: opts.fenceFile });
    const up = cfg.dns.upstream;
    const ttls = { ttlMin: cfg.dns.learnTtlMin, ttlMax: cfg.dns.learnTtlMax };
    // In a namespace the responder must run in it, as its own process (see NetnsDnsProcess).
    this.dns = cfg.netns
      ? new NetnsDnsProcess({ netns: cfg.netns, zone: cfg.dns.zone, forward: up && { upstream: up, clients: cfg.cidr.text, ...ttls }, log })
      : new DnsServer({
          zone: cfg.dns.zone,
          ttl: cfg.dns.ttl,
          forward: up && { upstream: up, clients: cfg.cidr, ...ttls, learn: async (e, addrs, ttl) => void (await run.nft(['-f', '-'], renderAllowedAddrs(e.set, addrs, ttl))) },
          log,
        });
  }

  private checkBridge(bridge: string): void {
    if (bridge !== '' && bridge !== this.cfg.bridge) {
      throw new InvalidArgumentError('bridge', `must be the configured bridge ${this.cfg.bridge}, got ${JSON.stringify(bridge)}`, 'FOREIGN_BRIDGE');
    }
  }

  /** DNS binds to the gateway address, which exists once the bridge does. */
  private startDns(): void {
    if (this.dnsListening) return;
    this.dnsListening = this.dns.listen(this.cfg.dns.address, this.cfg.dns.port).then(
      (addr) => this.log.info({ ...addr }, 'dns responder listening'),
      (err: unknown) => {
        this.dnsListening = undefined;
        this.log.warn({ err }, 'dns responder could not listen; NAME.vm will not resolve');
      },
    );
  }

  /** Tells the DNS forwarder which VM (by address) may learn which hostnames, into which set. */
  private async syncEgress(): Promise<void> {
    const entries = this.nat.allFences().flatMap((f) => (f.egress.hostnames.length > 0 ? [{ ip: f.ipv4, set: hostSetOf(f.tap), hostnames: f.egress.hostnames }] : []));
    await this.dns.syncEgress(entries);
  }

  /** The tap this helper assigned to a VM (AcquireTap), for the launch; undefined when none. */
  tapOf(vmId: string): string | undefined {
    return this.taps.tapOf(vmId);
  }

  /** At start-up: the fences of running VMs, kept by the last helper, for the taps still theirs. */
  async restoreFences(): Promise<number> {
    return this.nat.restoreFences(await this.taps.held());
  }

  /** VM id → marked tap, from the kernel's view the pool was built from. */
  async heldTaps(): Promise<ReadonlyMap<string, string>> {
    return this.taps.held();
  }

  /** VM id → its fence (the nft elements privhelper wrote for it), whether or not its tap still exists. */
  heldFences(): ReadonlyMap<string, HeldFence> {
    return new Map(this.nat.allFences().map((f) => [f.vmId, { tap: f.tap, ipv4: f.ipv4, mac: f.mac }]));
  }

  /** Unfences the VM's tap (its MAC/IP pins and egress chain go with it), then returns the tap to the pool. */
  async releaseTap(vmId: string): Promise<{ tap: string | undefined }> {
    if ((await this.nat.unfence(validateVmId(vmId))).removed) await this.syncEgress();
    return this.taps.release(vmId);
  }

  /** The address pinned when the VM was fenced (what ConnectGuest may reach), or undefined. */
  guestAddress(vmId: string): string | undefined {
    return this.nat.fenceOf(vmId)?.ipv4;
  }

  dnsRecordNames(): readonly string[] {
    return this.dnsNames;
  }

  get netns(): string | undefined {
    return this.cfg.netns ?? undefined;
  }

  handlers(): Record<string, unknown> {
    return {
      ensureBridge: unary(async (req: helperv2.EnsureBridgeRequest): Promise<helperv2.EnsureBridgeResponse> => {
        this.checkBridge(req.bridge);
        if (req.gatewayCidr !== '' && req.gatewayCidr !== this.cfg.gatewayCidr) {
          throw new InvalidArgumentError('gateway_cidr', `must be the configured ${this.cfg.gatewayCidr}`, 'FOREIGN_GATEWAY');
        }
        const res = await this.bridge.ensure({ bridge: this.cfg.bridge, gatewayCidr: this.cfg.gatewayCidr, ...(req.mtu ? { mtu: req.mtu } : {}) });
        this.startDns();
        return { bridge: res.bridge, created: res.created };
      }),
      acquireTap: unary(async (req: helperv2.AcquireTapRequest): Promise<helperv2.AcquireTapResponse> => {
        this.checkBridge(req.bridge);
        return this.taps.acquire(req.vmId);
      }),
      releaseTap: unary(async (req: helperv2.ReleaseTapRequest): Promise<helperv2.ReleaseTapResponse> => {
        const res = await this.releaseTap(req.vmId);
        return { tap: res.tap ?? '' };
      }),
      applyNat: unary(async (req: helperv2.ApplyNatRequest): Promise<helperv2.ApplyNatResponse> => {
        this.checkBridge(req.bridge);
        if (req.cidr !== '' && req.cidr !== this.cfg.cidr.text) {
          throw new InvalidArgumentError('cidr', 'must be the configured VM network', 'FOREIGN_CIDR');
        }
        const egress = req.egressInterface || this.cfg.egressInterface;
        return this.nat.apply({ bridge: this.cfg.bridge, cidr: this.cfg.cidr.text, ...(egress ? { egressInterface: egress } : {}) });
      }),
      fenceVm: unary(async (req: helperv2.FenceVmRequest): Promise<helperv2.FenceVmResponse> => {
        const vmId = validateVmId(req.vmId);
        const ipv4 = validateGuestIpv4(req.ipv4, this.cfg.cidr);
        const mac = validateGuestMac(req.mac);
        const egress = egressFromWire(req.egress);
        const tap = this.taps.tapOf(vmId);
        if (tap === undefined) throw new FailedPreconditionError('TAP_NOT_ASSIGNED', `vm ${vmId} has no tap: AcquireTap first`, { fields: { vm_id: vmId } });
        const res = await this.nat.fence({ vmId, tap, ipv4, mac, egress });
        await this.syncEgress();
        return { tap, changed: res.changed };
      }),
      removeNat: unary(async (): Promise<helperv2.RemoveNatResponse> => this.nat.remove()),
      syncDnsRecords: unary(async (req: helperv2.SyncDnsRecordsRequest): Promise<helperv2.SyncDnsRecordsResponse> => {
        const res = await this.dns.syncRecords(req.records.map((r) => ({ name: r.name, ipv4: r.ipv4 })));
        this.dnsNames = req.records.map((r) => r.name);
        return res;
      }),
    };
  }

  async close(): Promise<void> {
    await this.dns.close();
  }
}

const MODES: Record<number, string> = {
  [0]: 'allow',
  [1]: 'allow',
  [2]: 'deny',
  [3]: 'list',
};

function egressFromWire(p: helperv2.EgressPolicy | undefined): EgressPolicy {
  if (p === undefined) return ALLOW_ALL;
  return validateEgressPolicy({ mode: MODES[p.mode] ?? `unknown (${p.mode})`, cidrs: p.cidrs, hostnames: p.hostnames });
}
