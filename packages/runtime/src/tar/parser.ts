import { InvalidArgumentError } from '../errors.js';
import { BLOCK, isZeroBlock, kindOf, padding, parseHeader, parsePax, type RawHeader, type TarEntry } from './header.js';

/** What a parser hands over, in archive order; each may be async (the parser waits). */
export interface TarVisitor {
  entry(entry: TarEntry): void | Promise<void>;
  data?(chunk: Buffer): void | Promise<void>;
  entryEnd?(entry: TarEntry): void | Promise<void>;
}

/** Pax/GNU metadata bodies are small; a larger one is an attack or a corrupt stream. */
const MAX_META_BYTES = 1024 * 1024;

type State = { at: 'header' } | { at: 'meta'; header: RawHeader; left: number; parts: Buffer[] } | { at: 'data'; entry: TarEntry; left: number } | { at: 'pad'; left: number } | { at: 'end' };

/**
 * A streaming tar reader (ustar, GNU long names, pax path/linkpath/size/uid/gid/mtime): bytes
 * go in as they arrive, entries come out with their data, so neither side ever holds a whole
 * archive. Both vmd (checking an upload while relaying it) and the CLI (extracting a download)
 * use it.
 */
export class TarParser {
  private state: State = { at: 'header' };
  private pending: Buffer = Buffer.alloc(0);
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax = new Map<string, string>();
  private globalPax = new Map<string, string>();
  private zeroBlocks = 0;
  /** Entries seen so far (metadata entries not counted). */
  entries = 0;

  constructor(private readonly visitor: TarVisitor) {}

  get ended(): boolean {
    return this.state.at === 'end';
  }

  async push(chunk: Buffer): Promise<void> {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0) {
      const s = this.state;
      if (s.at === 'end') return; // trailing zero padding after the end blocks
      if (s.at === 'data') {
        const take = Math.min(s.left, buf.length);
        if (take > 0) await this.visitor.data?.(buf.subarray(0, take));
        buf = buf.subarray(take);
        s.left -= take;
        if (s.left === 0) {
          await this.visitor.entryEnd?.(s.entry);
          this.state = { at: 'pad', left: padding(s.entry.size) };
        }
        continue;
      }
      if (s.at === 'pad') {
        const take = Math.min(s.left, buf.length);
        buf = buf.subarray(take);
        s.left -= take;
        if (s.left === 0) this.state = { at: 'header' };
        continue;
      }
      if (s.at === 'meta') {
        const take = Math.min(s.left, buf.length);
        s.parts.push(buf.subarray(0, take));
        buf = buf.subarray(take);
        s.left -= take;
        if (s.left === 0) {
          this.applyMeta(s.header, Buffer.concat(s.parts));
          this.state = { at: 'pad', left: padding(s.header.size) };
        }
        continue;
      }
      if (buf.length < BLOCK) {
        this.pending = Buffer.from(buf);
        return;
      }
      const block = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      await this.header(block);
    }
  }

  /** Fails unless the archive ended properly (end blocks, or at least a complete last entry). */
  finish(): void {
    const s = this.state;
    if (s.at === 'end' || (s.at === 'header' && this.pending.length === 0 && this.entries > 0)) return;
    throw new InvalidArgumentError('archive', 'the tar stream ended in the middle of an entry', 'TAR_TRUNCATED');
  }

  private async header(block: Buffer): Promise<void> {
    if (isZeroBlock(block)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks >= 2) this.state = { at: 'end' };
      return;
    }
    this.zeroBlocks = 0;
    const h = parseHeader(block);
    if (h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K') {
      if (h.size > MAX_META_BYTES) throw new InvalidArgumentError('archive', `a metadata header of ${h.size} bytes is too large`, 'TAR_MALFORMED');
      this.state = { at: 'meta', header: h, left: h.size, parts: [] };
      if (h.size === 0) this.state = { at: 'header' };
      return;
    }
    const pax = new Map([...this.globalPax, ...this.pax]);
    const num = (key: string, fallback: number): number => {
      const v = pax.get(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('archive', `pax ${key} is not a number`, 'TAR_MALFORMED');
      return Math.floor(n);
    };
    const entry: TarEntry = {
      path: pax.get('path') ?? this.longName ?? h.name,
      kind: kindOf(h.type),
      type: h.type,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      size: num('size', h.size),
      mtime: num('mtime', h.mtime),
      linkname: pax.get('linkpath') ?? this.longLink ?? h.linkname,
    };
    this.longName = undefined;
    this.longLink = undefined;
    this.pax = new Map();
    // Only regular files carry data; any size another kind declares is skipped over.
    const hasData = entry.kind === 'file' || entry.kind === 'other';
    const skip = hasData ? 0 : h.size;
    if (!hasData) entry.size = 0;
    this.entries += 1;
    await this.visitor.entry(entry);
    if (entry.size > 0) {
      this.state = { at: 'data', entry, left: entry.size };
      return;
    }
    await this.visitor.entryEnd?.(entry);
    this.state = skip > 0 ? { at: 'pad', left: skip + padding(skip) } : { at: 'header' };
  }

  private applyMeta(h: RawHeader, body: Buffer): void {
    if (h.type === 'L') this.longName = body.toString('utf8').replace(/\0+$/, '');
    else if (h.type === 'K') this.longLink = body.toString('utf8').replace(/\0+$/, '');
    else if (h.type === 'x') this.pax = parsePax(body);
    else for (const [k, v] of parsePax(body)) this.globalPax.set(k, v);
  }
}
