export interface StatsSample {
  at: Date;
  cpuPercent: number;
  rssBytes: number;
}

/** Host-side use of each running VM's hypervisor process (ProcStats samples /proc). */
export interface VmStats {
  readonly intervalMs: number;
  /** A fresh sample; undefined when the process is gone. */
  sample(vmId: string, pid: number): Promise<StatsSample | undefined>;
  historyOf(vmId: string): StatsSample[];
}
