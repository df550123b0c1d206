import { UsageError } from '../errors.js';

/** One side of `vm cp`: a host path, or a guest path in a VM (`NAME:PATH`). */
export type CopyEnd = { kind: 'host'; path: string } | { kind: 'guest'; ref: string; path: string };

/** A VM reference before ':' (name, id or id prefix); anything with a '/' before the ':' is a host path, as with scp. */
const REMOTE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):(.*)$/s;

export function parseCopyEnd(spec: string, what: 'source' | 'destination'): CopyEnd {
  const m = REMOTE.exec(spec);
  if (!m) {
    if (spec === '') throw new UsageError(`${what} is empty`);
    return { kind: 'host', path: spec };
  }
  const [, ref = '', path = ''] = m;
  if (path === '') throw new UsageError(`${what} ${JSON.stringify(spec)}: give a guest path after ':'`, 'e.g. dev:/work or dev:/etc/hosts');
  if (!path.startsWith('/')) throw new UsageError(`${what} ${JSON.stringify(spec)}: the guest path must be absolute`, `e.g. ${ref}:/work/${path}`);
  return { kind: 'guest', ref, path };
}

/** SRC and DST of `vm cp`: exactly one of them is in a VM. */
export function parseCopyArgs(src: string, dst: string): { direction: 'in'; from: string; ref: string; to: string } | { direction: 'out'; ref: string; from: string; to: string } {
  const a = parseCopyEnd(src, 'source');
  const b = parseCopyEnd(dst, 'destination');
  if (a.kind === 'host' && b.kind === 'guest') return { direction: 'in', from: a.path, ref: b.ref, to: b.path };
  if (a.kind === 'guest' && b.kind === 'host') return { direction: 'out', ref: a.ref, from: a.path, to: b.path };
  if (a.kind === 'host') throw new UsageError('neither side is in a VM', 'name one as NAME:PATH, e.g. banger vm cp ./src dev:/work');
  throw new UsageError('both sides are in VMs; copy through the host in two steps');
}
