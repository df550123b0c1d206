import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SysError } from './errors.js';
import type { CopyResult, DirEntry, DirEntryRaw, Stat } from './types.js';

/** What the C addon exports (native/*.c). Every function is synchronous unless it says Async. */
export interface NativeAddon {
  constants: Record<string, number>;
  getPeerCred(fd: number): { pid: number; uid: number; gid: number };
  openat2(dirfd: number, path: string | Buffer, flags: number, mode: number, resolve: number): number;
  openBeneathFallback(dirfd: number, path: string | Buffer, flags: number, mode: number, resolve: number): number;
  fstatat(dirfd: number, name: string | Buffer, flags: number): Stat;
  mkdirat(dirfd: number, name: string | Buffer, mode: number): void;
  unlinkat(dirfd: number, name: string | Buffer, flags: number): void;
  renameat2(olddirfd: number, oldName: string | Buffer, newdirfd: number, newName: string | Buffer, flags: number): void;
  fchownat(dirfd: number, name: string | Buffer, uid: number, gid: number, flags: number): void;
  linkat(olddirfd: number, oldName: string | Buffer, newdirfd: number, newName: string | Buffer, flags: number): void;
  readdirfd(dirfd: number, raw: true): DirEntryRaw[];
  readdirfd(dirfd: number, raw: false): DirEntry[];
  copyFdRange(inFd: number, outFd: number): CopyResult;
  copyFdRangeAsync(inFd: number, outFd: number): Promise<CopyResult>;
  sendFds(sockfd: number, data: Buffer, fds: readonly number[]): number;
  recvFds(sockfd: number, maxBytes: number, maxFds: number): { data: Buffer; fds: number[] };
  sdNotify(socketPath: string, message: Buffer): void;
  tcpConnectInNetns(netnsPath: string, ipv4: string, port: number, timeoutMs: number): Promise<number>;
  memfdCreate(name: string): number;
  memfdSeal(fd: number): void;
  memfdSeals(fd: number): number;
}

const ADDON_URL = new URL('../native/build/Release/banger_sys.node', import.meta.url);

/** Where the built addon must be, for error messages. */
export const addonPath = fileURLToPath(ADDON_URL);

let addon: NativeAddon | undefined;
let loadError: unknown;

/** The addon, or undefined when it is not built; loading is attempted once. */
export function loadAddon(): NativeAddon | undefined {
  if (addon === undefined && loadError === undefined) {
    try {
      addon = createRequire(import.meta.url)(addonPath) as NativeAddon;
    } catch (err) {
      loadError = err;
    }
  }
  return addon;
}

export function addonLoadError(): unknown {
  return loadError;
}

/** The addon, or a SYS_ADDON_NOT_BUILT error saying how to build it. */
export function requireAddon(): NativeAddon {
  const a = loadAddon();
  if (a === undefined) {
    throw new SysError('FAILED_PRECONDITION', 'SYS_ADDON_NOT_BUILT', 'the @banger/sys native addon is not built: run `npm run build:native` in the repository root', {
      path: addonPath,
      cause: loadError,
    });
  }
  return a;
}
