import { closeSync, fchmodSync } from 'node:fs';
import { fchownat, fstat } from './calls.js';
import { constants as C } from './constants.js';
import { mapped, SysError } from './errors.js';
import type { Stat } from './types.js';

/**
 * A descriptor this process owns and must close exactly once. Explicit `close()` or `using`;
 * nothing closes it behind the caller's back, so a forgotten one leaks (tests count them).
 */
export abstract class OwnedFd implements Disposable {
  #fd: number | undefined;

  /** `path` is for messages only: operations always go through the descriptor. */
  protected constructor(
    fd: number,
    readonly path: string,
  ) {
    this.#fd = fd;
  }

  get fd(): number {
    if (this.#fd === undefined) throw new SysError('FAILED_PRECONDITION', 'FD_CLOSED', `${this.path} is already closed`, { path: this.path });
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd === undefined;
  }

  /** fstat of the descriptor itself. */
  stat(): Stat {
    return fstat(this.fd, this.path);
  }

  /** fchown of the open inode (by descriptor, so a rename of its name changes nothing). */
  setOwner(uid: number, gid: number): void {
    fchownat(this.fd, '', uid, gid, C.AT_EMPTY_PATH, this.path);
  }

  /** fchmod of the open inode; the exact mode, no umask. Not possible on an O_PATH descriptor. */
  setMode(mode: number): void {
    mapped('chmod', this.path, () => fchmodSync(this.fd, mode));
  }

  /** Hands the descriptor to the caller (e.g. to pass it on); this object will not close it. */
  release(): number {
    const fd = this.fd;
    this.#fd = undefined;
    return fd;
  }

  close(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    mapped('close', this.path, () => closeSync(fd));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** An open file (or O_PATH handle) returned by Dir.open. Read and write it with node:fs on `fd`. */
export class FileFd extends OwnedFd {
  constructor(fd: number, path: string) {
    super(fd, path);
  }
}
