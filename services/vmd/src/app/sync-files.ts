import { posix } from 'node:path';
import { FailedPreconditionError } from '@banger/runtime/errors';
import { padding, tarHeaders, TAR_END } from '@banger/runtime/tar';
import type { SyncFile } from '../domain/sync-files.js';
import type { Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';
import type { GuestFiles } from '../ports/guest-files.js';

export interface SyncDeps {
  agent: Pick<GuestAgent, 'exec'>;
  files: Pick<GuestFiles, 'upload'>;
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}

/**
 * Writes a create's sync files into the guest through the same upload path as `vm cp` (each
 * one a one-entry tar, root-owned with its mode), after making their parent directories.
 */
export async function writeSyncFiles(deps: SyncDeps, vm: Vm, files: readonly SyncFile[], opts: { opId: string; signal: AbortSignal }): Promise<void> {
  const dirs = [...new Set(files.map((f) => posix.dirname(f.guestPath)))];
  const mk = await deps.agent.exec(vm.files.agentSocket, ['mkdir', '-p', '--', ...dirs], { timeoutMs: 30_000, maxOutputBytes: 64 * 1024, overflow: 'fail' });
  if (mk.exitCode !== 0) throw new FailedPreconditionError('SYNC_DIR_FAILED', `cannot make ${dirs.join(', ')} in the guest: ${mk.stderr.toString('utf8').trim() || `mkdir exited ${mk.exitCode}`}`);
  const mtime = Math.floor(Date.now() / 1000);
  for (const f of files) {
    const name = posix.basename(f.guestPath);
    const archive = Buffer.concat([tarHeaders({ name, type: '0', mode: f.mode, uid: 0, gid: 0, size: f.data.length, mtime, linkname: '' }), f.data, Buffer.alloc(padding(f.data.length)), TAR_END]);
    await deps.files.upload({ id: vm.id, agentSocket: vm.files.agentSocket }, { destPath: f.guestPath, mustBeDir: false, name }, once(archive), { opId: opts.opId, timeoutMs: 60_000, signal: opts.signal });
  }
}
