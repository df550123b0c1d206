import { statfs } from 'node:fs/promises';
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

  constructor(
    private readonly prober: Prober,
    private readonly stateDir: string,
  ) {}

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
