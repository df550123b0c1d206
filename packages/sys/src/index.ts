// @banger/sys: the Linux calls Node lacks, for code (privhelper above all) that must act on
// descriptors rather than paths. `Dir` is the intended way in; the low-level calls are
// exported for the cases it does not cover.
export { peerCredAvailable, peerCredOf, peerCredOfFd, PeerCredError, type PeerCred, type PeerCredErrorKind } from './peercred.js';
export { Dir, type DirExpectation, type DirOpenOptions, type RenameOptions } from './dir.js';
export { FileFd, OwnedFd } from './fd.js';
export type { WriteAtomicOptions } from './file-io.js';
export { SysError, UnsafeDirectoryError, FileTooLargeError, NotRegularFileError, sysErrorFrom, errnoCodeOf, type SysErrorOptions } from './errors.js';
export { constants, type SysConstantName } from './constants.js';
export { openat2, openBeneathFallback, fstatat, fstat, mkdirat, unlinkat, renameat2, fchownat, linkat, readdirfd, readdirfdRaw } from './calls.js';
export { copyFdRange, copyFdRangeAsync } from './copy.js';
export { sendFds, recvFds, recvFdsWhenReady, type RecvWaitOptions } from './fdpass.js';
export { sdNotify, notifySystemd } from './notify.js';
export { socketFdOf } from './socket-fd.js';
export { tcpConnectInNetns } from './netns.js';
export { memfdCreate, memfdSeal, memfdSeals, ALL_SEALS } from './memfd.js';
export type { FileType, Stat, DirEntry, DirEntryRaw, CopyResult, ReceivedFds } from './types.js';
export { jailerPath } from './jailer.js';
