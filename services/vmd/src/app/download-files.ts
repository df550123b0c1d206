import { baseNameOf, validateGuestPath } from '../domain/guest-path.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestFiles } from '../ports/guest-files.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

export interface DownloadFilesCommand {
  ref: string;
  sourcePath: string;
  opId: string;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * DownloadFiles: streams a guest file or tree out as tar. vmd relays the guest's bytes without
 * extracting them; the client extracts, as its own user, refusing entries that escape.
 */
export class DownloadFiles {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; files: Pick<GuestFiles, 'download'> }) {}

  async run(cmd: DownloadFilesCommand, handlers: { started(vm: Vm, name: string): Promise<void>; data(chunk: Buffer): Promise<void> }): Promise<{ bytes: number; elapsedMs: number }> {
    const sourcePath = validateGuestPath(cmd.sourcePath, 'source_path');
    const name = baseNameOf(sourcePath, 'source_path');
    const vm = await findVm(this.deps.vms, cmd.ref);
    requireRunning(vm, 'copying files out of it');
    const started = Date.now();
    let bytes = 0;
    let announced = false;
    await this.deps.files.download(
      { id: vm.id, agentSocket: vm.files.agentSocket },
      sourcePath,
      async (chunk) => {
        if (!announced) {
          announced = true;
          await handlers.started(vm, name);
        }
        bytes += chunk.length;
        await handlers.data(chunk);
      },
      cmd,
    );
    if (!announced) await handlers.started(vm, name);
    return { bytes, elapsedMs: Date.now() - started };
  }
}
