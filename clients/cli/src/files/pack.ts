import { spawn } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

/** A host file or tree as a tar stream, read by the invoking user (host `tar`, GNU format, numeric owners). */
export interface PackedSource {
  name: string;
  isDir: boolean;
  stream: AsyncIterable<Buffer>;
}

/** Fails before anything is sent when the source is missing or unreadable, naming it. */
export async function packHostPath(path: string): Promise<PackedSource> {
  const abs = resolve(path);
  const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new CliError(`${path}: no such file or directory`, EXIT.NOT_FOUND, 'SOURCE_NOT_FOUND');
    throw new CliError(`${path}: ${err.message}`, EXIT.PERMISSION, 'SOURCE_UNREADABLE');
  });
  const name = basename(abs);
  if (!name) throw new CliError(`${path}: cannot copy the whole root directory`, EXIT.USAGE, 'BAD_SOURCE');
  return { name, isDir: st.isDirectory(), stream: tarOf(dirname(abs), name, path) };
}

async function* tarOf(dir: string, name: string, shown: string): AsyncGenerator<Buffer> {
  const child = spawn('tar', ['-c', '-f', '-', '--numeric-owner', '-C', dir, '--', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => void (stderr.length < 4096 && (stderr += c.toString('utf8'))));
  const exited = new Promise<number>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => res(code ?? 1));
  });
  let done = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    done = true;
  } finally {
    if (!done) child.kill('SIGKILL');
  }
  const code = await exited.catch((err: Error) => {
    throw new CliError(`cannot run tar to read ${shown}: ${err.message}`, EXIT.GENERIC, 'HOST_TAR_FAILED');
  });
  // GNU tar exits 1 when a file changed while it was read: the archive is still whole.
  if (code > 1) throw new CliError(`reading ${shown} failed: ${stderr.trim() || `tar exited ${code}`}`, EXIT.GENERIC, 'HOST_TAR_FAILED');
}
