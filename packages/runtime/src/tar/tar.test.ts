import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { padding, tarHeaders, TAR_END, type TarEntry } from './header.js';
import { TarEntryCheck, normalEntryPath } from './entry-check.js';
import { TarParser } from './parser.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function member(name: string, type: string, data = Buffer.alloc(0), linkname = ''): Buffer {
  return Buffer.concat([tarHeaders({ name, type, mode: 0o644, uid: 1000, gid: 1000, size: data.length, mtime: 1_700_000_000, linkname }), data, Buffer.alloc(padding(data.length))]);
}

async function parse(archive: Buffer, chunk = 777): Promise<{ entries: TarEntry[]; data: Map<string, Buffer> }> {
  const entries: TarEntry[] = [];
  const data = new Map<string, Buffer>();
  let current = '';
  const p = new TarParser({
    entry: (e) => {
      entries.push(e);
      current = e.path;
      data.set(current, Buffer.alloc(0));
    },
    data: (c) => void data.set(current, Buffer.concat([data.get(current) ?? Buffer.alloc(0), c])),
  });
  for (let i = 0; i < archive.length; i += chunk) await p.push(archive.subarray(i, i + chunk));
  p.finish();
  return { entries, data };
}

describe('TarParser', () => {
  it('reads what GNU tar writes: long names, symlinks, modes, owners and data, in any chunking', async () => {
    const d = mkdtempSync(join(tmpdir(), 'banger-tar-'));
    dirs.push(d);
    const long = 'n'.repeat(150);
    mkdirSync(join(d, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(d, 'tree', 'sub', long), 'long name');
    writeFileSync(join(d, 'tree', 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(d, 'tree', 'run.sh'), 0o750);
    symlinkSync('sub', join(d, 'tree', 'link'));
    for (const format of ['gnu', 'pax']) {
      const archive = execFileSync('tar', ['-c', `--format=${format}`, '--numeric-owner', '-C', d, 'tree']);
      for (const chunk of [1, 512, 100_000]) {
        const { entries, data } = await parse(archive, chunk);
        const byPath = new Map(entries.map((e) => [e.path.replace(/\/$/, ''), e]));
        expect(byPath.get(`tree/sub/${long}`)?.kind).toBe('file');
        expect(data.get(`tree/sub/${long}`)?.toString()).toBe('long name');
        expect(byPath.get('tree/run.sh')?.mode).toBe(0o750);
        expect(byPath.get('tree/run.sh')?.uid).toBe(process.getuid?.());
        expect(byPath.get('tree/link')).toMatchObject({ kind: 'symlink', linkname: 'sub' });
        expect(byPath.get('tree')?.kind).toBe('dir');
      }
    }
  });

  it('round-trips its own headers, including GNU long names', async () => {
    const name = `x/${'y'.repeat(120)}`;
    const archive = Buffer.concat([member('x', '5'), member(name, '0', Buffer.from('hello')), TAR_END]);
    const { entries, data } = await parse(archive, 3);
    expect(entries.map((e) => e.path)).toEqual(['x', name]);
    expect(data.get(name)?.toString()).toBe('hello');
  });

  it('refuses a stream that is not tar, and one cut in the middle of an entry', async () => {
    await expect(parse(Buffer.alloc(1024, 7))).rejects.toMatchObject({ reason: 'TAR_MALFORMED' });
    const cut = member('x', '0', Buffer.alloc(2000, 1)).subarray(0, 1200);
    await expect(parse(cut)).rejects.toMatchObject({ reason: 'TAR_TRUNCATED' });
  });
});

describe('normalEntryPath', () => {
  it.each([
    ['./a/b/', 'a/b'],
    ['a//b', 'a/b'],
  ])('%s is %s', (raw, want) => expect(normalEntryPath(raw)).toBe(want));
  it.each(['/etc/passwd', 'a/../../b', '..', '', './', 'a\0b'])('refuses %j', (raw) => {
    expect(() => normalEntryPath(raw)).toThrow(expect.objectContaining({ reason: 'TAR_ENTRY_ESCAPES' }) as Error);
  });
});

describe('TarEntryCheck', () => {
  const e = (path: string, kind: TarEntry['kind'], linkname = ''): TarEntry => ({ path, kind, type: kind === 'other' ? '3' : '0', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname });

  it('accepts a tree under its root, symlinks pointing anywhere, and hard links to earlier files', () => {
    const c = new TarEntryCheck('app');
    c.check(e('app/', 'dir'));
    c.check(e('app/a', 'file'));
    c.check(e('app/abs', 'symlink', '/etc'));
    c.check(e('app/h', 'hardlink', 'app/a'));
    expect(c.rootKind()).toBe('dir');
  });

  it('refuses entries outside the root, through an archive symlink, and devices, naming the path', () => {
    const c = new TarEntryCheck('app');
    expect(() => c.check(e('other/x', 'file'))).toThrow(/entry "other\/x" is not under "app"/);
    c.check(e('app/l', 'symlink', '/etc'));
    expect(() => c.check(e('app/l/passwd', 'file'))).toThrow(/goes through the symlink "app\/l"/);
    expect(() => c.check(e('app/dev', 'other'))).toThrow(expect.objectContaining({ reason: 'TAR_ENTRY_UNSUPPORTED' }) as Error);
    expect(() => c.check(e('app/h', 'hardlink', '/etc/shadow'))).toThrow(expect.objectContaining({ reason: 'TAR_ENTRY_ESCAPES' }) as Error);
    expect(() => c.check(e('app/h', 'hardlink', 'app/missing'))).toThrow(/not a file earlier/);
  });

  it('refuses a root name that is not one component', () => {
    expect(() => new TarEntryCheck('a/b')).toThrow(expect.objectContaining({ reason: 'BAD_NAME' }) as Error);
    expect(() => new TarEntryCheck('..')).toThrow();
  });
});
