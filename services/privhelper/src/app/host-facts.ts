import { statfs } from 'node:fs/promises';
import { ResourceExhaustedError } from '@banger/runtime/errors';
import { cpus, totalmem } from 'node:os';
import { hostChecks, type HostCheck } from '../domain/hypervisor/checks.js';
import type { HostCapabilities } from '../domain/hypervisor/driver.js';

export interface HostFactsResult {
  caps: HostCapabilities;
  checks: HostCheck[];
  cpuCount: number;
  memoryBytes: number;
  stateFreeBytes: number;
}

export type Prober = (deep: boolean) => Promise<HostCapabilities>;

/**
 * The helper probes once and reuses the answer, so launches and `banger doctor` agree on the
 * accelerator; a deep probe (a real KVM boot attempt) refreshes it.
 */
export class HostFacts {
  private cached: Promise<HostCapabilities> | undefined;
  private readonly lastDeep = new Map<number, number>();

  constructor(
    private readonly prober: Prober,
    private readonly stateDir: string,
    /** A deep probe boots a QEMU: at most one per caller uid per this many ms. */
    private readonly deepIntervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Refuses a caller's second deep probe within the interval (RESOURCE_EXHAUSTED), before any work. */
  admitDeep(uid: number): void {
    const t = this.now();
    const last = this.lastDeep.get(uid);
    if (last !== undefined && t - last < this.deepIntervalMs) {
      const wait = Math.ceil((this.deepIntervalMs - (t - last)) / 1000);
      throw new ResourceExhaustedError('DEEP_PROBE_RATE_LIMITED', `a deep host probe boots a VM: at most one per ${this.deepIntervalMs / 1000} s per caller; retry in ${wait} s`, {
        fields: { limit: 'privhelper.deep_probe_interval_seconds', retry_after_seconds: wait },
      });
    }
    this.lastDeep.set(uid, t);
  }

  capabilities(deep = false): Promise<HostCapabilities> {
    if (deep || this.cached === undefined) {
      const next = this.prober(deep);
      this.cached = next;
      next.catch(() => {
        if (this.cached === next) this.cached = undefined;
      });
    }
    return this.cached;
  }

  async describe(deep: boolean): Promise<HostFactsResult> {
    const caps = await this.capabilities(deep);
    const fs = await statfs(this.stateDir).catch(() => undefined);
    return {
      caps,
      checks: hostChecks(caps),
      cpuCount: cpus().length,
      memoryBytes: totalmem(),
      stateFreeBytes: fs ? fs.bavail * fs.bsize : 0,
    };
  }
}
