/** Keeps only the last `max` bytes written: a chatty tool's stderr cannot grow the daemon's heap. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > 2 * this.max) this.compact();
  }

  toString(): string {
    this.compact();
    return this.chunks.length === 0 ? '' : (this.chunks[0] ?? Buffer.alloc(0)).toString('utf8');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > this.max ? all.subarray(all.length - this.max) : all;
    this.chunks = kept.length === 0 ? [] : [kept];
    this.size = kept.length;
  }
}

/** Collects stdout up to `max` bytes; `push` answers false once the cap is passed, so the caller can stop the tool. */
export class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.max) return false;
    this.chunks.push(chunk);
    this.size += chunk.length;
    return true;
  }

  value(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
