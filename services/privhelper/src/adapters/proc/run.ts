import { execFile } from 'node:child_process';
import { VmHostError } from '../../domain/vmspec/errors.js';

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a host tool with an argument vector (never a shell) and turns its failure into a typed
 * error: a missing binary is FAILED_PRECONDITION/TOOL_MISSING, a non-zero exit INTERNAL/TOOL_FAILED.
 */
export function runTool(file: string, args: readonly string[], opts: { timeoutMs?: number; okCodes?: readonly number[] } = {}): Promise<ToolResult & { code: number }> {
  const okCodes = opts.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 8 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
      if (e === null) return resolve({ stdout, stderr, code: 0 });
      if (e.code === 'ENOENT') {
        return reject(new VmHostError('FAILED_PRECONDITION', 'TOOL_MISSING', `${file} is not installed`, { tool: file }, { cause: err }));
      }
      const code = typeof e.code === 'number' ? e.code : -1;
      if (okCodes.includes(code)) return resolve({ stdout, stderr, code });
      const tail = stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
      reject(new VmHostError('INTERNAL', e.killed === true ? 'TOOL_TIMEOUT' : 'TOOL_FAILED', `${file} failed (${code}): ${tail}`, { tool: file }, { cause: err }));
    });
  });
}
