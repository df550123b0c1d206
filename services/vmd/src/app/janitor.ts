import { log } from '@banger/runtime/logging';
import type { CollectGarbage, GcReport } from './collect-garbage.js';

export interface JanitorOptions {
  /** Between passes while nothing is pending ([vmd] gc_interval_seconds). */
  intervalMs: number;
  /** Between passes while something is (privhelper down, a step failed, an orphan in grace). */
  retryMs: number;
}

/**
 * Runs `banger system gc`'s pass on its own: at start-up, every interval, and every few
 * seconds while anything is pending, so a leftover is gone within seconds of privhelper being
 * back and an orphan soon after its grace ends. Passes never overlap.
 */
export class Janitor {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly gc: Pick<CollectGarbage, 'run'>,
    private readonly opts: JanitorOptions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const pass = this.pass();
      this.current = pass;
      void pass.then((next) => this.schedule(next));
    }, ms);
    this.timer.unref();
  }

  /** One pass; answers when the next should run. */
  private async pass(): Promise<number> {
    let report: GcReport;
    try {
      report = await this.gc.run({ dryRun: false });
    } catch (err) {
      log().warn({ err }, 'janitor pass failed');
      return this.opts.retryMs;
    }
    const done = report.leftovers.filter((l) => l.action === 'removed' || l.action === 'adopted').length + [...report.orphans, ...report.snapshots].filter((o) => o.action === 'removed').length + report.realigned.length;
    if (done > 0 || report.pending) {
      log().info({ cleaned: done, pending: report.pending, helper_reachable: report.helperReachable, leftovers: report.leftovers.length, orphans: report.orphans.length, snapshots: report.snapshots.length }, 'janitor pass');
    }
    if (!report.pending) return this.opts.intervalMs;
    const waiting = [...report.orphans, ...report.snapshots].filter((o) => o.action === 'grace');
    const retryNow = !report.helperReachable || report.dnsDrift.length > 0 || report.orphans.length + report.snapshots.length > waiting.length || report.leftovers.some((l) => l.action !== 'removed' && l.action !== 'adopted');
    if (retryNow || waiting.length === 0) return this.opts.retryMs;
    return Math.max(this.opts.retryMs, Math.min(this.opts.intervalMs, Math.min(...waiting.map((o) => o.graceLeftMs)) + 250));
  }
}
