import { vmv1 } from '@banger/api';
import type { CallOptions } from '@banger/runtime';
import { ToolInputError } from './tool-result.js';

/**
 * How the MCP file tools reach guest files. Today through the guest agent's exec; when vmd
 * grows UploadFiles/DownloadFiles, a second implementation of this port replaces
 * `execGuestFiles` and the tools stay as they are.
 */
export interface GuestFiles {
  read(ref: string, path: string, opts: CallOptions): Promise<Uint8Array>;
  write(ref: string, path: string, data: Uint8Array, mode: number, opts: CallOptions): Promise<void>;
}

/** The part of vmd's client the exec-based adapter needs. */
export interface ExecPort {
  execVm(request: vmv1.ExecVmRequest, opts: CallOptions): Promise<vmv1.ExecVmResponse>;
}

/** Most bytes read_file returns (ExecVm keeps at most 16 MiB of stdout). */
export const MAX_READ_BYTES = 8 << 20;
/** Most bytes write_file sends: the request travels in one gRPC message (4 MiB by default). */
export const MAX_WRITE_BYTES = 3 << 20;

/**
 * Writes beside the target and renames, so a failed or cut write leaves the old file (or no
 * file) rather than half a new one; the temporary file is removed on any failure.
 */
export const WRITE_SCRIPT = [
  'set -eu',
  't=$(mktemp "$(dirname -- "$1")/.banger-write.XXXXXX")',
  'trap \'rm -f -- "$t"\' EXIT',
  'cat > "$t"',
  'chmod "$2" "$t"',
  'mv -f -- "$t" "$1"',
  'trap - EXIT',
].join('\n');

function failure(res: vmv1.ExecVmResponse, what: string, path: string): Error {
  const stderr = Buffer.from(res.stderr).toString('utf8').trim();
  const status = res.status;
  const how = status?.timedOut ? 'timed out' : status?.signal ? `killed by ${status.signal}` : `exit ${status?.exitCode ?? '?'}`;
  return new ToolInputError('path', `${what} ${path} failed in the guest (${how})${stderr ? `: ${stderr}` : ''}`, what === 'read' ? 'GUEST_READ_FAILED' : 'GUEST_WRITE_FAILED');
}

function checkPath(path: string): void {
  if (!path.startsWith('/')) throw new ToolInputError('path', `path must be absolute, got ${JSON.stringify(path)}`, 'INVALID_PATH');
  if (path.includes('\0')) throw new ToolInputError('path', 'path must not contain NUL', 'INVALID_PATH');
}

export function execGuestFiles(port: ExecPort): GuestFiles {
  return {
    async read(ref, path, opts) {
      checkPath(path);
      const command = vmv1.ExecCommand.fromPartial({ argv: ['cat', '--', path] });
      const res = await port.execVm(vmv1.ExecVmRequest.fromPartial({ ref, command, maxOutputBytes: MAX_READ_BYTES }), opts);
      if (res.status?.exitCode !== 0 || res.status.signal || res.status.timedOut) throw failure(res, 'read', path);
      if (res.stdoutTruncated) throw new ToolInputError('path', `${path} is larger than ${MAX_READ_BYTES} bytes; read it in parts with exec (e.g. dd or head -c)`, 'FILE_TOO_LARGE');
      return res.stdout;
    },
    async write(ref, path, data, mode, opts) {
      checkPath(path);
      if (data.length > MAX_WRITE_BYTES) throw new ToolInputError('content', `content is ${data.length} bytes; write_file sends at most ${MAX_WRITE_BYTES}`, 'FILE_TOO_LARGE');
      const command = vmv1.ExecCommand.fromPartial({ argv: ['sh', '-c', WRITE_SCRIPT, 'sh', path, mode.toString(8)], stdin: data });
      const res = await port.execVm(vmv1.ExecVmRequest.fromPartial({ ref, command }), opts);
      if (res.status?.exitCode !== 0 || res.status.signal || res.status.timedOut) throw failure(res, 'write', path);
    },
  };
}
