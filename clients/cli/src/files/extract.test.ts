import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { padding, tarHeaders, TAR_END } from '@banger/runtime/tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCopyArgs } from './cp-args.js';
import { HostExtractor } from './extract.js';

function member(name: string, type: string, data = Buffer.alloc(0), linkname = '', mode = 0o644): Buffer {
  return Buffer.concat([tarHeaders({ name, type, mode, uid: 0, gid: 0, size: data.length, mtime: 1_700_000_000, linkname }), data, Buffer.alloc(padding(data.length))]);
}

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-extract-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function extract(dest: string, name: string, archive: Buffer): Promise<string> {
  const x = await HostExtractor.create(dest, name);
  try {
    for (let i = 0; i < archive.length; i += 1000) await x.push(archive.subarray(i, i + 1000));
    return await x.commit();
  } catch (err) {
    await x.abort();
    throw err;
  }
}

describe('HostExtractor', () => {
  it('extracts what tar makes into DEST/NAME when DEST is a directory, modes and symlinks kept', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'tree', 'sub'), { recursive: true });
    await writeFile(join(src, 'tree', 'sub', 'f'), 'data');
    await chmod(join(src, 'tree', 'sub', 'f'), 0o640);
    await symlink('sub/f', join(src, 'tree', 'l'));
    await chmod(join(src, 'tree', 'sub'), 0o750);
    const archive = execFileSync('tar', ['-c', '-f', '-', '-C', src, 'tree']);
    await mkdir(join(dir, 'out'));
    expect(await extract(join(dir, 'out'), 'tree', archive)).toBe(join(dir, 'out', 'tree'));
    expect(await readFile(join(dir, 'out', 'tree', 'sub', 'f'), 'utf8')).toBe('data');
    expect((await lstat(join(dir, 'out', 'tree', 'sub', 'f'))).mode & 0o777).toBe(0o640);
    expect((await lstat(join(dir, 'out', 'tree', 'sub'))).mode & 0o777).toBe(0o750);
    expect(await readlink(join(dir, 'out', 'tree', 'l'))).toBe('sub/f');
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(['tree']);
  });

  it('lands as DEST when DEST does not exist, replacing nothing else', async () => {
    const archive = Buffer.concat([member('f.txt', '0', Buffer.from('x')), TAR_END]);
    expect(await extract(join(dir, 'renamed.txt'), 'f.txt', archive)).toBe(join(dir, 'renamed.txt'));
    expect(await readFile(join(dir, 'renamed.txt'), 'utf8')).toBe('x');
  });

  it.each([
    ['a .. entry', [member('t', '5'), member('t/../../evil', '0', Buffer.from('x'))], /climbs out/],
    ['an absolute entry', [member('/etc/evil', '0', Buffer.from('x'))], /absolute path/],
    ['an entry through a symlink', [member('t', '5'), member('t/l', '2', Buffer.alloc(0), '/etc'), member('t/l/evil', '0', Buffer.from('x'))], /goes through the symlink/],
    ['a device', [member('t', '5'), member('t/dev', '3')], /unsupported type/],
    ['a cut stream', [member('t', '0', Buffer.alloc(4000)).subarray(0, 2000)], /ended in the middle/],
  ])('refuses %s and leaves nothing behind', async (_what, parts, message) => {
    await mkdir(join(dir, 'out'));
    await expect(extract(join(dir, 'out'), 't', Buffer.concat(parts))).rejects.toThrow(message);
    expect(await readdir(join(dir, 'out'))).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['out']);
  });

  it('refuses a destination whose parent is missing or a file, and DEST/ that is not a directory', async () => {
    await writeFile(join(dir, 'file'), '');
    await expect(HostExtractor.create(join(dir, 'no', 'x'), 't')).rejects.toThrow(/no such directory/);
    await expect(HostExtractor.create(join(dir, 'file', 'x'), 't')).rejects.toThrow(/not a directory/);
    await expect(HostExtractor.create(`${join(dir, 'file')}/`, 't')).rejects.toThrow(/not a directory/);
  });
});

describe('parseCopyArgs', () => {
  it('tells NAME:PATH from host paths like scp', () => {
    expect(parseCopyArgs('./a:b', 'dev:/work')).toEqual({ direction: 'in', from: './a:b', ref: 'dev', to: '/work' });
    expect(parseCopyArgs('dev:/etc/hosts', '.')).toEqual({ direction: 'out', ref: 'dev', from: '/etc/hosts', to: '.' });
  });
  it.each([
    ['a', 'b', /neither side/],
    ['dev:/a', 'web:/b', /both sides/],
    ['x', 'dev:relative', /must be absolute/],
    ['x', 'dev:', /give a guest path/],
  ])('refuses %s %s', (a, b, message) => {
    expect(() => parseCopyArgs(a, b)).toThrow(message);
  });
});
