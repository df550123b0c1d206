import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Stand-ins for the host files an attacker wants (/etc/shadow, /etc, /dev/sda...), never the
 * real ones: root-owned files in a root-only (0700) temp directory. The attacker is told their
 * paths and names (on a real host those are public), but cannot read or list them itself.
 */
export interface Victims {
  /** The root-only directory holding every victim. */
  readonly root: string;
  /** A 0600 root file with a secret line: /etc/shadow. */
  readonly secret: string;
  readonly secretText: string;
  /** A 32 MiB 0600 root file, for truncation: a database or a disk image. */
  readonly big: string;
  /** A root-owned 0755 directory of root files: /etc or /dev. */
  readonly dir: string;
  /** The names in `dir` (files and one subdirectory), which the attacker mirrors. */
  readonly dirEntries: readonly string[];
  /** A root-owned directory holding a 0600 root file named `sock`, for the socket-dir swap. */
  readonly sockDir: string;
}

const DIR_FILES: Record<string, number> = { passwd: 0o644, shadow: 0o640, group: 0o644, hosts: 0o644, sudoers: 0o440, crontab: 0o644, fstab: 0o644, sda: 0o660 };

export async function createVictims(): Promise<Victims> {
  const root = await mkdtemp(path.join(tmpdir(), 'banger-victim-'));
  await chmod(root, 0o700);
  const secretText = `root-only secret ${randomBytes(16).toString('hex')}\n`;
  const secret = path.join(root, 'secret');
  await writeFile(secret, secretText, { mode: 0o600 });
  const big = path.join(root, 'big');
  const block = randomBytes(1024 * 1024);
  await writeFile(big, Buffer.concat(Array.from({ length: 32 }, () => block)), { mode: 0o600 });
  const dir = path.join(root, 'etc');
  await mkdir(dir, { mode: 0o755 });
  for (const [name, mode] of Object.entries(DIR_FILES)) {
    await writeFile(path.join(dir, name), `${name}: root's ${randomBytes(4).toString('hex')}\n`, { mode });
    await chmod(path.join(dir, name), mode);
  }
  await mkdir(path.join(dir, 'cron.d'), { mode: 0o755 });
  await writeFile(path.join(dir, 'cron.d', 'job'), '* * * * * root true\n', { mode: 0o644 });
  const sockDir = path.join(root, 'sockdir');
  await mkdir(sockDir, { mode: 0o755 });
  await writeFile(path.join(sockDir, 'sock'), `socket-dir secret ${randomBytes(8).toString('hex')}\n`, { mode: 0o600 });
  return { root, secret, secretText, big, dir, dirEntries: [...Object.keys(DIR_FILES), 'cron.d'], sockDir };
}

export async function removeVictims(v: Victims): Promise<void> {
  await rm(v.root, { recursive: true, force: true });
}

export interface EntryState {
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly uid: number;
  readonly gid: number;
  readonly mode: string;
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
}

export type Snapshot = Record<string, EntryState>;

/** Streamed: an attack may leave a 600 MB image among the victims. */
async function sha256Of(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function entryState(p: string): Promise<EntryState> {
  const st = await lstat(p);
  const base = { uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8), size: st.isDirectory() ? 0 : st.size };
  if (st.isSymbolicLink()) return { type: 'link', ...base, target: await readlink(p) };
  if (st.isDirectory()) return { type: 'dir', ...base };
  if (st.isFile()) return { type: 'file', ...base, sha256: await sha256Of(p) };
  return { type: 'other', ...base };
}

/** Owner, mode and (for files) content hash of `root` and everything below it, without following links. */
export async function snapshotTree(root: string): Promise<Snapshot> {
  const out: Snapshot = { '.': await entryState(root) };
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      out[path.relative(root, p)] = await entryState(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}

/** Owner and mode only, for directories whose content is not ours to hash (the host's /etc, /tmp...). */
export async function snapshotOwners(paths: readonly string[]): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const p of paths) {
    const st = await lstat(p).catch(() => undefined);
    if (st) out[p] = { type: st.isDirectory() ? 'dir' : 'other', uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8), size: 0 };
  }
  return out;
}

function describe(e: EntryState): string {
  const what = e.type === 'link' ? `link -> ${e.target ?? ''}` : e.type;
  return `${what}, ${e.uid}:${e.gid} ${e.mode}${e.type === 'file' ? `, ${e.size} bytes` : ''}`;
}

/** Human-readable differences, one line each: the evidence a failing test prints. */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [p, b] of Object.entries(before)) {
    const a = after[p];
    if (!a) {
      out.push(`${p}: removed (was ${describe(b)})`);
      continue;
    }
    const changes: string[] = [];
    if (a.type !== b.type) changes.push(`type ${b.type} -> ${a.type}`);
    if (a.uid !== b.uid || a.gid !== b.gid) changes.push(`owner ${b.uid}:${b.gid} -> ${a.uid}:${a.gid}`);
    if (a.mode !== b.mode) changes.push(`mode ${b.mode} -> ${a.mode}`);
    if (a.size !== b.size) changes.push(`size ${b.size} -> ${a.size}`);
    else if (a.sha256 !== b.sha256) changes.push('content changed');
    if (a.target !== b.target) changes.push(`link target ${b.target ?? '-'} -> ${a.target ?? '-'}`);
    if (changes.length > 0) out.push(`${p}: ${changes.join(', ')}`);
  }
  for (const [p, a] of Object.entries(after)) if (!before[p]) out.push(`${p}: created (${describe(a)})`);
  return out;
}
