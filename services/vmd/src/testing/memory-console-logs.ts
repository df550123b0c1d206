import type { ConsoleCursor, ConsoleLogs } from '../ports/console.js';

/** Console logs held in memory: what a guest wrote, per path, appended to by tests. */
export class MemoryConsoleLogs implements ConsoleLogs {
  readonly logs = new Map<string, Buffer>();
  fallback = 'Linux version 6.1\nlast console line\n';

  private text(path: string): Buffer {
    return this.logs.get(path) ?? Buffer.from(this.fallback);
  }

  async open(path: string): Promise<ConsoleCursor> {
    let offset = this.text(path).length;
    return {
      tail: async (maxBytes) => {
        const t = this.text(path).subarray(0, offset);
        return { data: t.subarray(Math.max(0, t.length - maxBytes)), cut: t.length > maxBytes };
      },
      next: async (maxBytes) => {
        const data = this.text(path).subarray(offset, offset + maxBytes);
        offset += data.length;
        return data;
      },
    };
  }
}
