import { readFile } from 'node:fs/promises';
import type { StatsSample, VmStats } from '../../ports/stats.js';

interface Last {
  pid: number;
  ticks: number;
  at: number;
}

const CLK_TCK = 100;

/** utime + stime (fields 14 and 15 of /proc/PID/stat, after the parenthesised comm). */
export function cpuTicks(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

export function rssBytes(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * Samples each running VM's hypervisor process from /proc on an interval and keeps a short
 * history in memory (GetVmStats); nothing is stored, a restart starts a fresh history.
 */
export class ProcStats implements VmStats {
  private readonly history = new Map<string, StatsSample[]>();
  private readonly last = new Map<string, Last>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly running: () => Promise<{ id: string; pid: number }[]>,
    readonly intervalMs = 5000,
    private readonly keep = 60,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(vmId: string, pid: number): Promise<StatsSample | undefined> {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]).catch(() => [undefined, undefined]);
    if (stat === undefined || status === undefined) return undefined;
    const now = Date.now();
    const ticks = cpuTicks(stat);
    const prev = this.last.get(vmId);
    this.last.set(vmId, { pid, ticks, at: now });
    const cpuPercent = prev && prev.pid === pid && now > prev.at ? ((ticks - prev.ticks) / CLK_TCK / ((now - prev.at) / 1000)) * 100 : 0;
    const s: StatsSample = { at: new Date(now), cpuPercent: Math.max(0, Math.round(cpuPercent * 10) / 10), rssBytes: rssBytes(status) };
    const h = this.history.get(vmId) ?? [];
    h.push(s);
    if (h.length > this.keep) h.splice(0, h.length - this.keep);
    this.history.set(vmId, h);
    return s;
  }

  async tick(): Promise<void> {
    const vms = await this.running();
    const live = new Set(vms.map((v) => v.id));
    for (const id of this.history.keys()) if (!live.has(id)) this.history.delete(id);
    for (const v of vms) await this.sample(v.id, v.pid);
  }

  historyOf(vmId: string): StatsSample[] {
    return [...(this.history.get(vmId) ?? [])];
  }
}
