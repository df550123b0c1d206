/** What lstat/fstat report, as the addon's fstatat returns it. */
export type FileType = 'file' | 'dir' | 'symlink' | 'block' | 'char' | 'fifo' | 'socket' | 'unknown';

export interface Stat {
  dev: number;
  ino: number;
  /** Full st_mode (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  /** 512-byte blocks allocated: how much of a sparse file is real. */
  blocks: number;
  type: FileType;
}

export interface DirEntry {
  name: string;
  type: FileType;
}

/** A directory entry whose name is kept as bytes, so names that are not UTF-8 survive. */
export interface DirEntryRaw {
  name: Buffer;
  type: FileType;
}

export interface CopyResult {
  /** Size of the copy (the input's size). */
  bytes: number;
  /** Bytes of data extents written (all of `bytes` for a reflink). */
  dataBytes: number;
  /** 'reflink': FICLONE shared the extents; 'copy': data extents copied, holes kept. */
  method: 'reflink' | 'copy';
}

export interface ReceivedFds {
  /** Empty when the peer closed its end and no descriptors came. */
  data: Buffer;
  fds: number[];
}
