import { lchown, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { PeerCredentials } from '@banger/runtime';

/**
 * Gives a directory the helper built for a caller (an image) to that caller: the directory and
 * everything in it become the caller's uid and gid. imaged runs as banger under systemd and
 * must be able to delete the images it asked for; root callers (and callers whose credentials
 * are unknown) leave the files root's. Symlinks are changed themselves, never followed.
 */
export async function handOver(dir: string, peer: PeerCredentials | undefined): Promise<boolean> {
  if (!peer || peer.uid === 0) return false;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    await lchown(path.join(e.parentPath, e.name), peer.uid, peer.gid);
  }
  await lchown(dir, peer.uid, peer.gid);
  return true;
}
