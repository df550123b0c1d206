import { StringDecoder } from 'node:string_decoder';

/** The longest console line passed on whole; a longer one is sent in pieces of this size. */
export const MAX_CONSOLE_LINE = 64 * 1024;

/**
 * Splits console bytes into lines as they arrive: UTF-8 decoded across chunk boundaries, the
 * unfinished last line held back (at most MAX_CONSOLE_LINE) until its newline or a flush.
 */
export class ConsoleLineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';

  push(data: Buffer): string[] {
    const parts = (this.carry + this.decoder.write(data)).split('\n');
    this.carry = parts.pop() ?? '';
    const lines: string[] = [];
    for (const p of parts) lines.push(...pieces(p));
    while (this.carry.length > MAX_CONSOLE_LINE) {
      lines.push(this.carry.slice(0, MAX_CONSOLE_LINE));
      this.carry = this.carry.slice(MAX_CONSOLE_LINE);
    }
    return lines;
  }

  /** The unfinished line, if any (the guest went quiet mid-line, e.g. at a login prompt). */
  flush(): string[] {
    const rest = this.carry;
    this.carry = '';
    return rest === '' ? [] : pieces(rest);
  }
}

function pieces(line: string): string[] {
  if (line.length <= MAX_CONSOLE_LINE) return [line];
  const out: string[] = [];
  for (let i = 0; i < line.length; i += MAX_CONSOLE_LINE) out.push(line.slice(i, i + MAX_CONSOLE_LINE));
  return out;
}
