import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';

/** This process's open descriptors (number → what it points at), to catch leaks. */
export function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      out.set(Number(name), readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the descriptor readdir itself used, closed by now
    }
  }
  return out;
}

/** Descriptors open now that were not open in `before`, with their targets. */
export function leakedSince(before: Map<number, string>): string[] {
  const leaked: string[] = [];
  for (const [fd, target] of openFds()) if (before.get(fd) !== target) leaked.push(`${fd} -> ${target}`);
  return leaked;
}

/** Node has no mkfifo(3). */
export function mkfifo(path: string): void {
  execFileSync('mkfifo', ['-m', '0644', path]);
}
