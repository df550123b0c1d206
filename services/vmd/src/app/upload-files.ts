import { TarEntryCheck, TarParser } from '@banger/runtime/tar';
import { validateEntryName, validateGuestPath, wantsDirectory } from '../domain/guest-path.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestFiles } from '../ports/guest-files.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

export interface UploadFilesCommand {
  ref: string;
  destPath: string;
  name: string;
  /** The tar stream, as the client sends it. */
  data: AsyncIterable<Buffer>;
  opId: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface UploadFilesResult {
  vm: Vm;
  guestPath: string;
  bytes: number;
  entries: number;
  elapsedMs: number;
}

/**
 * UploadFiles: copies a client's tar stream into a running guest. Every entry is checked as it
 * passes (TarEntryCheck), before its bytes reach the guest: one that would land outside the
 * destination aborts the copy with an error naming it, and the guest side removes what it had.
 */
export class UploadFiles {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; files: Pick<GuestFiles, 'upload'> }) {}

  async run(cmd: UploadFilesCommand): Promise<UploadFilesResult> {
    const destPath = validateGuestPath(cmd.destPath, 'target.dest_path');
    const name = validateEntryName(cmd.name, 'target.name');
    const vm = await findVm(this.deps.vms, cmd.ref, 'target.ref');
    requireRunning(vm, 'copying files into it');
    const started = Date.now();
    const checked = checkedArchive(cmd.data, name);
    const { guestPath } = await this.deps.files.upload({ id: vm.id, agentSocket: vm.files.agentSocket }, { destPath, mustBeDir: wantsDirectory(cmd.destPath), name }, checked.stream, cmd);
    return { vm, guestPath, bytes: checked.bytes(), entries: checked.entries(), elapsedMs: Date.now() - started };
  }
}

/** The stream as it was sent, each chunk passed on only after its entries were checked; throws at the first bad one or at a cut-off end. */
export function checkedArchive(data: AsyncIterable<Buffer>, root: string): { stream: AsyncIterable<Buffer>; bytes: () => number; entries: () => number } {
  const check = new TarEntryCheck(root);
  const parser = new TarParser({ entry: (e) => void check.check(e) });
  let bytes = 0;
  async function* stream(): AsyncGenerator<Buffer> {
    for await (const chunk of data) {
      await parser.push(chunk);
      bytes += chunk.length;
      yield chunk;
      if (parser.ended) break;
    }
    parser.finish();
  }
  return { stream: stream(), bytes: () => bytes, entries: () => parser.entries };
}
