import type { CliIo } from './context.js';
import type { OutStream } from './render/output.js';

/** A captured output stream for in-process CLI tests. */
export class Capture implements OutStream {
  readonly chunks: string[] = [];
  constructor(readonly isTTY = false) {}
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

export function captureIo(env: Record<string, string | undefined> = {}, extra: Partial<Omit<CliIo, 'stdout' | 'stderr'>> = {}): CliIo & { stdout: Capture; stderr: Capture } {
  return { stdout: new Capture(), stderr: new Capture(), env: { NO_COLOR: '1', ...env }, ...extra };
}
