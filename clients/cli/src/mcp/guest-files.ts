import { posix } from 'node:path';
import * as vmv1 from '@banger/api/vm';
import type { CallOptions } from '@banger/runtime';
import { padding, tarHeaders, TAR_END, TarParser, type TarEntry } from '@banger/runtime/tar';
import { ToolInputError } from './tool-result.js';

/** How the MCP file tools reach guest files: vmd's UploadFiles/DownloadFiles, the path `vm cp` takes. */
export interface GuestFiles {
  read(ref: string, path: string, opts: CallOptions): Promise<Uint8Array>;
  write(ref: string, path: string, data: Uint8Array, mode: number, opts: CallOptions): Promise<void>;
}

/** The two streaming vmd calls the file tools make. */
export interface FilesPort {
  /** UploadFiles: the target, then `chunks` as data messages; resolves to vmd's answer. */
  uploadFiles(target: vmv1.UploadTarget, chunks: readonly Uint8Array[], opts: CallOptions): Promise<vmv1.UploadFilesResponse>;
  downloadFiles(request: vmv1.DownloadFilesRequest, opts: CallOptions): AsyncIterable<vmv1.DownloadFilesResponse>;
}

/**
 * Most bytes read_file returns and write_file takes. Not limits of the channel (`banger vm cp`
 * has none) but of the MCP stdio transport: the SDK refuses a message over 10 MiB, base64 adds
 * a third, and a tool answer carries its content twice (as text and as structured content).
 */
export const MAX_READ_BYTES = 3 << 20;
export const MAX_WRITE_BYTES = 6 << 20;
/** Data messages of at most this size, well under grpc's 4 MiB per message. */
const CHUNK = 1 << 20;
/** Symlinks read_file follows before it gives up. */
const MAX_LINK_HOPS = 8;

function checkPath(path: string): void {
  if (!path.startsWith('/')) throw new ToolInputError('path', `path must be absolute, got ${JSON.stringify(path)}`, 'INVALID_PATH');
  if (path.includes('\0')) throw new ToolInputError('path', 'path must not contain NUL', 'INVALID_PATH');
  if (posix.basename(posix.normalize(path)) === '' || /(^|\/)\.\.?\/?$/.test(path)) throw new ToolInputError('path', `path must name a file, got ${JSON.stringify(path)}`, 'INVALID_PATH');
}

/** One regular file as a whole tar archive: root-owned, the given mode, now as its mtime. */
export function oneFileArchive(name: string, data: Uint8Array, mode: number): Buffer {
  const header = tarHeaders({ name, type: '0', mode, uid: 0, gid: 0, size: data.length, mtime: Math.floor(Date.now() / 1000), linkname: '' });
  return Buffer.concat([header, data, Buffer.alloc(padding(data.length)), TAR_END]);
}

/** What a download of one path held: the file's bytes, or where its symlink points. */
type Downloaded = { kind: 'file'; data: Buffer } | { kind: 'symlink'; target: string };

async function downloadOne(port: FilesPort, ref: string, path: string, opts: CallOptions): Promise<Downloaded> {
  let top: TarEntry | undefined;
  let inTop = false;
  const parts: Buffer[] = [];
  const parser = new TarParser({
    entry(e) {
      inTop = top === undefined;
      if (!inTop) return;
      top = e;
      if (e.kind === 'dir') throw new ToolInputError('path', `${path} is a directory; list it with exec (ls) or copy it with banger vm cp`, 'GUEST_IS_A_DIRECTORY');
      if (e.kind !== 'file' && e.kind !== 'symlink') throw new ToolInputError('path', `${path} is not a regular file`, 'NOT_A_REGULAR_FILE');
      if (e.size > MAX_READ_BYTES) throw new ToolInputError('path', `${path} is ${e.size} bytes; read_file returns at most ${MAX_READ_BYTES} (use banger vm cp, or exec with dd/head -c for a part)`, 'FILE_TOO_LARGE');
    },
    data(chunk) {
      if (inTop) parts.push(Buffer.from(chunk));
    },
  });
  // A refused top entry throws out of the loop, which cancels the download.
  for await (const msg of port.downloadFiles(vmv1.DownloadFilesRequest.fromPartial({ ref, sourcePath: path }), opts)) {
    if (msg.msg?.$case === 'data') await parser.push(Buffer.from(msg.msg.value));
  }
  parser.finish();
  if (!top) throw new ToolInputError('path', `the guest sent nothing for ${path}`, 'GUEST_READ_FAILED');
  if (top.kind === 'symlink') return { kind: 'symlink', target: top.linkname };
  return { kind: 'file', data: Buffer.concat(parts) };
}

/**
 * GuestFiles over UploadFiles/DownloadFiles: binary-safe up to MAX_READ_BYTES / MAX_WRITE_BYTES, the
 * mode kept, and atomic like `vm cp` (the guest extracts beside the target and renames).
 */
export function streamGuestFiles(port: FilesPort): GuestFiles {
  return {
    async read(ref, path, opts) {
      checkPath(path);
      let at = path;
      for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
        const got = await downloadOne(port, ref, at, opts);
        if (got.kind === 'file') return got.data;
        at = posix.resolve(posix.dirname(at), got.target);
      }
      throw new ToolInputError('path', `${path}: more than ${MAX_LINK_HOPS} symlinks`, 'TOO_MANY_LINKS');
    },
    async write(ref, path, data, mode, opts) {
      checkPath(path);
      if (data.length > MAX_WRITE_BYTES) throw new ToolInputError('content', `content is ${data.length} bytes; write_file sends at most ${MAX_WRITE_BYTES} (use banger vm cp for more)`, 'FILE_TOO_LARGE');
      const archive = oneFileArchive(posix.basename(path), data, mode);
      const chunks: Buffer[] = [];
      for (let i = 0; i < archive.length; i += CHUNK) chunks.push(archive.subarray(i, i + CHUNK));
      // Into the parent as a directory, so the result is exactly PATH (an existing directory there is refused, not written into).
      await port.uploadFiles(vmv1.UploadTarget.fromPartial({ ref, destPath: `${posix.dirname(path).replace(/\/$/, '')}/`, name: posix.basename(path) }), chunks, opts);
    },
  };
}
