import { RpcError, BANGER_VERSION, API_VERSION } from '@banger/runtime';
import type { commonv1 } from '@banger/api';
import type { CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { EXIT, exitCodeForStatus } from '../exit-codes.js';
import { formatDuration } from '../render/format.js';

type Probe =
  | { name: string; socket: string; ok: true; info: commonv1.ServerInfo }
  | { name: string; socket: string; ok: false; error: RpcError | Error };

/** Asks each daemon for GetServerInfo in parallel; a failure is a result, not an exception. */
export async function probeDaemons(ctx: CommandContext, timeoutMs = 5000): Promise<Probe[]> {
  const opts = ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? timeoutMs });
  const calls: [string, string, () => Promise<{ info?: commonv1.ServerInfo | undefined }>][] = [
    ['vmd', ctx.globals.vmdSocket, () => ctx.serverInfo('vmd').unary('getServerInfo', {}, opts)],
    ['imaged', ctx.globals.imagedSocket, () => ctx.serverInfo('imaged').unary('getServerInfo', {}, opts)],
    ['privhelper', ctx.globals.helperSocket, () => ctx.serverInfo('privhelper').unary('getServerInfo', {}, opts)],
  ];
  return Promise.all(
    calls.map(async ([name, socket, call]): Promise<Probe> => {
      try {
        const res = await call();
        if (!res.info) return { name, socket, ok: false, error: new Error('answered without server info') };
        return { name, socket, ok: true, info: res.info };
      } catch (err) {
        return { name, socket, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
      }
    }),
  );
}

export function probeFailure(p: Probe & { ok: false }): string {
  const e = p.error;
  if (e instanceof RpcError && e.unreachable) return `unreachable at ${p.socket} (${e.opId ?? 'no op id'})`;
  return e instanceof RpcError ? `${e.codeName}: ${e.message}` : e.message;
}

async function run(ctx: CommandContext): Promise<number> {
  const probes = await probeDaemons(ctx);
  const now = ctx.now().getTime();
  const anyOk = probes.some((p) => p.ok);
  const firstErr = probes.find((p): p is Probe & { ok: false } => !p.ok)?.error;
  const exit = anyOk || !firstErr ? EXIT.OK : firstErr instanceof RpcError ? exitCodeForStatus(firstErr.code) : EXIT.GENERIC;
  if (ctx.json) {
    ctx.printJson({
      client: { name: 'banger', version: BANGER_VERSION, api_version: API_VERSION },
      daemons: probes.map((p) =>
        p.ok
          ? {
              name: p.name,
              socket: p.socket,
              reachable: true,
              version: p.info.version,
              api_version: p.info.apiVersion,
              pid: p.info.pid,
              started_at: p.info.startedAt?.toISOString() ?? null,
              uptime_ms: p.info.startedAt ? now - p.info.startedAt.getTime() : null,
            }
          : {
              name: p.name,
              socket: p.socket,
              reachable: !(p.error instanceof RpcError && p.error.unreachable),
              error: p.error instanceof RpcError ? { code: p.error.codeName, reason: p.error.reason, message: p.error.message, op_id: p.error.opId ?? null } : { message: p.error.message },
            },
      ),
    });
    return exit;
  }
  const rows: string[][] = [['banger (client)', BANGER_VERSION, API_VERSION, String(process.pid), '-', '']];
  for (const p of probes) {
    if (p.ok) {
      const up = p.info.startedAt ? formatDuration(now - p.info.startedAt.getTime()) : '-';
      rows.push([p.info.name || p.name, p.info.version, p.info.apiVersion, String(p.info.pid), up, p.socket]);
    } else {
      rows.push([p.name, '-', '-', '-', '-', probeFailure(p)]);
    }
  }
  ctx.table(['COMPONENT', 'VERSION', 'API', 'PID', 'UPTIME', 'SOCKET / STATUS'], rows);
  return exit;
}

export const versionCommand: CommandSpec = {
  path: ['version'],
  summary: 'Show the client version and each daemon\'s version, API version, pid and uptime',
  description: 'Exits 0 when at least one daemon answered; when none did, exits with the first failure\'s code (7 when they are all down).',
  run,
};
