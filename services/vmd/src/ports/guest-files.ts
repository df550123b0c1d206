/** The parts of a VM a file copy needs. */
export interface FileCopyVm {
  id: string;
  agentSocket: string;
}

export interface UploadSpec {
  /** Normal absolute guest path (validateGuestPath). */
  destPath: string;
  /** The caller ended the destination with '/': it must be an existing directory. */
  mustBeDir: boolean;
  /** The archive's one top-level name. */
  name: string;
}

export interface CopyOptions {
  opId: string;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Moves tar streams into and out of a running guest. An upload is extracted beside its
 * destination and moved into place only once complete, so a failed or cancelled copy leaves
 * nothing behind; errors name the guest path (NOT_FOUND, FAILED_PRECONDITION for "not a
 * directory", RESOURCE_EXHAUSTED for a full disk).
 */
export interface GuestFiles {
  /** Resolves where the tree landed; `source` is consumed to its end (it may throw to abort). */
  upload(vm: FileCopyVm, spec: UploadSpec, source: AsyncIterable<Buffer>, opts: CopyOptions): Promise<{ guestPath: string }>;
  /** Streams `sourcePath` as a tar (top-level entry: its base name) into `sink`, resolving once the guest's tar succeeded. */
  download(vm: FileCopyVm, sourcePath: string, sink: (chunk: Buffer) => Promise<void>, opts: CopyOptions): Promise<void>;
}
