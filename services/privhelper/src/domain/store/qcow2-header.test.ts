import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkQcow2Header } from './qcow2-header.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qcow2-header-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function make(name: string, ...opts: string[]): Buffer {
  const file = path.join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...opts, file, '16M']);
  return readFileSync(file).subarray(0, 512);
}

describe('checkQcow2Header', () => {
  it('accepts a plain overlay and one with a backing file name (the chain is pinned elsewhere)', () => {
    expect(checkQcow2Header(make('plain.qcow2'))).toEqual({ ok: true, version: 3 });
    writeFileSync(path.join(dir, 'base.raw'), Buffer.alloc(1024));
    expect(checkQcow2Header(make('over.qcow2', '-u', '-b', path.join(dir, 'base.raw'), '-F', 'raw')).ok).toBe(true);
  });

  it('refuses an external data file, which QEMU would open by the name in the header', () => {
    writeFileSync(path.join(dir, 'victim'), 'secret');
    const v = checkQcow2Header(make('data.qcow2', '-o', `data_file=${path.join(dir, 'victim')},data_file_raw=on`));
    expect(v).toEqual({ ok: false, why: 'header names an external data file' });
  });

  it('refuses raw bytes, encryption and truncation', () => {
    expect(checkQcow2Header(Buffer.alloc(512)).ok).toBe(false);
    const enc = Buffer.from(make('enc-src.qcow2'));
    enc.writeUInt32BE(1, 32);
    expect(checkQcow2Header(enc)).toEqual({ ok: false, why: 'encrypted qcow2 images are not supported' });
    expect(checkQcow2Header(make('short.qcow2').subarray(0, 40)).ok).toBe(false);
  });
});
