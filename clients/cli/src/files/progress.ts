import type { OutStream } from '../render/output.js';
import { formatBytes } from '../render/format.js';

/** Bytes moved so far on stderr, redrawn on a terminal at most 4 times a second; silent unless enabled. */
export class CopyProgress {
  private bytes = 0;
  private lastDraw = 0;
  private drawn = false;
  private readonly started = Date.now();

  constructor(
    private readonly out: OutStream,
    private readonly enabled: boolean,
    private readonly label: string,
  ) {}

  add(n: number): void {
    this.bytes += n;
    const now = Date.now();
    if (!this.enabled || now - this.lastDraw < 250 || now - this.started < 1000) return;
    this.lastDraw = now;
    this.drawn = true;
    this.out.write(`\r${this.label}: ${formatBytes(this.bytes)}  ${formatBytes(this.rate())}/s   `);
  }

  get total(): number {
    return this.bytes;
  }

  /** Bytes per second since the start. */
  rate(): number {
    const s = Math.max(0.001, (Date.now() - this.started) / 1000);
    return this.bytes / s;
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }

  end(): void {
    if (this.drawn) this.out.write(`\r${this.label}: ${formatBytes(this.bytes)} in ${(this.elapsedMs() / 1000).toFixed(1)} s (${formatBytes(this.rate())}/s)\n`);
  }
}
