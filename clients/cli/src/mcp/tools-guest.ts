import * as vmv1 from '@banger/api/vm';
import { msToDuration } from '@banger/runtime/duration';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ToolContext } from './tool-context.js';
import { MAX_READ_BYTES, MAX_WRITE_BYTES } from './guest-files.js';
import { ToolInputError, toolOk } from './tool-result.js';

const ref = z.string().min(1).describe('VM name or id');
const path = z.string().min(1).describe('absolute path in the guest');
const encoding = z.enum(['utf8', 'base64']).default('utf8').describe('utf8 text (default) or base64 for binary data');

/** Room for vmd and the agent around a guest command's own time limit. */
const RPC_MARGIN_MS = 60_000;

/** The answer of exec: the command's own streams and how it ended. */
export function execResult(res: vmv1.ExecVmResponse): Record<string, unknown> {
  const status = res.status;
  return {
    exitCode: status && !status.signal && !status.timedOut ? status.exitCode : null,
    signal: status?.signal || null,
    timedOut: status?.timedOut ?? false,
    durationMs: status?.durationMs ?? 0,
    stdout: Buffer.from(res.stdout).toString('utf8'),
    stderr: Buffer.from(res.stderr).toString('utf8'),
    stdoutTruncated: res.stdoutTruncated,
    stderrTruncated: res.stderrTruncated,
  };
}

export function decodeContent(content: string, enc: 'utf8' | 'base64'): Uint8Array {
  if (enc === 'utf8') return Buffer.from(content, 'utf8');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content.replace(/\s+/g, ''))) throw new ToolInputError('content', 'content is not valid base64');
  return Buffer.from(content, 'base64');
}

export function parseMode(mode: string): number {
  if (!/^[0-7]{3,4}$/.test(mode)) throw new ToolInputError('mode', `mode must be octal like "644" or "0755", got ${JSON.stringify(mode)}`, 'INVALID_MODE');
  return Number.parseInt(mode, 8);
}

export function registerGuestTools(server: McpServer, t: ToolContext): void {
  server.registerTool(
    'exec',
    {
      title: 'Run a command in a VM',
      description:
        "Runs an argument vector in the guest through its agent (no shell: use [\"sh\",\"-c\",\"...\"] for one) and returns stdout, stderr and the exit status. A failing command is a normal answer (exitCode != 0), not a tool error.",
      inputSchema: {
        ref,
        command: z.array(z.string()).min(1).describe('argv; argv[0] is looked up in the guest PATH'),
        stdin: z.string().optional().describe('text written to the command stdin, then closed'),
        timeout_seconds: z.number().positive().max(86_400).optional().describe('kill the command after this long (timedOut: true)'),
        user: z.string().optional().describe('guest user (default root)'),
        working_dir: z.string().optional().describe("working directory (default the user's home)"),
        env: z.record(z.string(), z.string()).optional().describe('extra environment variables'),
      },
    },
    ({ ref, command, stdin, timeout_seconds, user, working_dir, env }, extra) =>
      t.call(extra, async (opts) => {
        const timeoutMs = timeout_seconds === undefined ? undefined : Math.round(timeout_seconds * 1000);
        const cmd = vmv1.ExecCommand.fromPartial({
          argv: command,
          env: env ?? {},
          user: user ?? '',
          workingDir: working_dir ?? '',
          stdin: stdin === undefined ? new Uint8Array() : Buffer.from(stdin, 'utf8'),
          ...(timeoutMs === undefined ? {} : { timeout: msToDuration(timeoutMs) }),
        });
        const res = await t.vmd.execVm(vmv1.ExecVmRequest.fromPartial({ ref, command: cmd }), { ...opts, ...(timeoutMs === undefined ? {} : { timeoutMs: timeoutMs + RPC_MARGIN_MS }) });
        return toolOk(execResult(res));
      }),
  );

  server.registerTool(
    'read_file',
    {
      title: 'Read a guest file',
      description: `The content of one regular file in the guest (symlinks followed), at most ${MAX_READ_BYTES >> 20} MiB (the MCP stdio message limit); a larger file is refused with FILE_TOO_LARGE (copy it with \`banger vm cp\` instead). Use encoding "base64" for binary files.`,
      inputSchema: { ref, path, encoding }, annotations: { readOnlyHint: true } },
    ({ ref, path, encoding }, extra) =>
      t.call(extra, async (opts) => {
        const data = Buffer.from(await t.files.read(ref, path, opts));
        return toolOk({ path, size: data.length, encoding, content: data.toString(encoding) });
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write a guest file',
      description: `Creates or replaces one file in the guest, root-owned with the given mode, at most ${MAX_WRITE_BYTES >> 20} MiB of content after base64 decoding (the MCP stdio message limit), atomically: a failed write leaves the old file. The parent directory must exist; an existing directory at the path is refused.`,
      inputSchema: { ref, path, content: z.string().describe(`the new content (at most ${MAX_WRITE_BYTES >> 20} MiB once decoded)`), encoding, mode: z.string().default('644').describe('octal permission bits, e.g. "644" or "0755"') },
    },
    ({ ref, path, content, encoding, mode }, extra) =>
      t.call(extra, async (opts) => {
        const bits = parseMode(mode);
        const data = decodeContent(content, encoding);
        await t.files.write(ref, path, data, bits, opts);
        return toolOk({ path, size: data.length, mode: bits.toString(8).padStart(4, '0') });
      }),
  );
}
