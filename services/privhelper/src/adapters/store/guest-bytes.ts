import type { FileHandle } from 'node:fs/promises';
import { run, type RunOptions, type RunResult } from '@banger/proc';
import { ResourceExhaustedError } from '@banger/runtime/errors';
import { toolUids, type JailConfig } from '../../domain/hypervisor/jail.js';
import { pidsOfUid } from '../proc/pids.js';

/**
 * Runs the tools that parse bytes a guest (or a guest that took over its QEMU) wrote: e2fsck,
 * resize2fs and qemu-img on a stopped VM's disks. Never as root on a path: each run gets a uid
 * of its own from the top of the jail range, no groups, no capabilities and no_new_privs, and
 * the disk files open in privhelper, lent to that uid for the run (the files sit in root-only
 * directories, so no one else reaches them meanwhile) and given back to root afterwards. A bug
 * a crafted filesystem or qcow2 header triggers in the tool runs with nothing but those files.
 */
export class GuestBytesTools {
  private readonly free: number[];

  constructor(range: Pick<JailConfig, 'uidBase' | 'uidCount'>) {
    this.free = toolUids(range);
  }

  /**
   * Runs `tool` on open files: `args` gets the name the tool opens each file by (`/dev/fd/N`,
   * in the order given), never a path into the store.
   */
  async run(tool: string, files: readonly FileHandle[], args: (names: string[]) => string[], opts: Pick<RunOptions, 'okCodes' | 'timeoutMs'> = {}): Promise<RunResult> {
    const uid = this.free.shift();
    if (uid === undefined) throw new ResourceExhaustedError('DISK_TOOLS_BUSY', 'every disk tool uid is in use; retry when a resize or promote finishes', { fields: { limit: 'concurrent disk tool runs' } });
    const argv = args(files.map((_, i) => `/dev/fd/${3 + i}`));
    const owners = await Promise.all(files.map(async (f) => f.stat()));
    const lent: FileHandle[] = [];
    try {
      for (const f of files) {
        await f.chown(uid, uid);
        lent.push(f);
      }
      return await run(tool, argv, { ...opts, uid, gid: uid, noNewPrivs: true, extraFds: files.map((f) => f.fd) });
    } finally {
      // The uid is reserved for this run: whatever still runs as it was left behind by the tool
      // (a crafted input could make it fork away) and would keep the disk open.
      for (const pid of await pidsOfUid(uid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      for (const f of lent) {
        const st = owners[files.indexOf(f)];
        if (st === undefined) continue;
        await f.chown(st.uid, st.gid);
      }
      this.free.push(uid);
    }
  }
}
