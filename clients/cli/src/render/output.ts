/** The writable side the CLI prints to (process.stdout, or a capture in tests). */
export interface OutStream {
  write(chunk: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** ANSI styling that turns itself off for pipes and NO_COLOR. */
export interface Style {
  readonly enabled: boolean;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { enabled, green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

export function colorEnabled(out: OutStream, env: Record<string, string | undefined>): boolean {
  return out.isTTY === true && env['NO_COLOR'] === undefined && env['TERM'] !== 'dumb';
}

/** Prints one JSON document (pretty) or one JSON line (compact) followed by a newline. */
export function writeJson(out: OutStream, value: unknown, compact = false): void {
  out.write(`${compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`);
}
