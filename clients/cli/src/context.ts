import type * as helperv2 from '@banger/api/helper';
import type * as imagev1 from '@banger/api/image';
import type * as vmv1 from '@banger/api/vm';
import { ServiceClient, type CallOptions } from '@banger/runtime';
import type { DaemonName, ServiceDefinitions } from './daemon-services.js';
import { annotateDaemon, CliError, type DaemonInfo } from './errors.js';
import { EXIT } from './exit-codes.js';
import { colorEnabled, makeStyle, writeJson, type OutStream, type Style } from './render/output.js';
import { renderTable } from './render/table.js';
import { SERVER_INFO_SERVICES, type ServerInfoService } from './server-info.js';

/** How a child process is started for `vm ssh`; injectable so tests need no real ssh. */
export type SpawnFn = (file: string, args: readonly string[]) => Promise<number>;

/** Everything the CLI touches outside itself; `main.ts` passes the real process. */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT: streams detach, watch loops end, exit code 130. */
  interrupt?: AbortSignal;
  stdin?: AsyncIterable<Uint8Array | string>;
  spawn?: SpawnFn;
  now?: () => Date;
}

export interface GlobalOptions {
  json: boolean;
  vmdSocket: string;
  imagedSocket: string;
  helperSocket: string;
  /** RPC deadline from --timeout, in ms. */
  timeoutMs: number | undefined;
}

export type VmClient = ServiceClient<typeof vmv1.VmServiceService>;
export type ImageClient = ServiceClient<typeof imagev1.ImageServiceService>;
export type HelperClient = ServiceClient<typeof helperv2.HelperServiceService>;

/** Wraps a client so every RpcError it raises remembers which daemon (and socket) failed. */
function annotated<C extends object>(client: C, daemon: DaemonInfo): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'unary' && typeof value === 'function') {
        return (...args: unknown[]) =>
          (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: unknown) => {
            throw annotateDaemon(err, daemon);
          });
      }
      if (prop === 'serverStream' && typeof value === 'function') {
        return (...args: unknown[]) => {
          const stream = (value as (...a: unknown[]) => AsyncIterable<unknown> & object).apply(target, args);
          const iterator = stream[Symbol.asyncIterator]();
          const wrapped: AsyncIterator<unknown> = {
            next: () =>
              iterator.next().catch((err: unknown) => {
                throw annotateDaemon(err, daemon);
              }),
            return: (v?: unknown) => iterator.return?.(v) ?? Promise.resolve({ done: true as const, value: v }),
          };
          return { ...stream, [Symbol.asyncIterator]: () => wrapped };
        };
      }
      return value;
    },
  });
}

export function daemonInfos(g: GlobalOptions): Record<'vmd' | 'imaged' | 'privhelper', DaemonInfo> {
  return {
    vmd: { name: 'vmd', socket: g.vmdSocket, flag: '--vmd-socket', envVar: 'BANGER_VMD_SOCKET' },
    imaged: { name: 'imaged', socket: g.imagedSocket, flag: '--imaged-socket', envVar: 'BANGER_IMAGED_SOCKET' },
    privhelper: { name: 'privhelper', socket: g.helperSocket, flag: '--helper-socket', envVar: 'BANGER_HELPER_SOCKET' },
  };
}

/** Per-invocation state handed to every command: output, global flags and lazy daemon clients. */
export class CommandContext {
  readonly style: Style;
  readonly errStyle: Style;
  readonly interrupt: AbortSignal;
  readonly daemons: Record<'vmd' | 'imaged' | 'privhelper', DaemonInfo>;
  private readonly clients: { close(): void }[] = [];
  private vmdClient: VmClient | undefined;
  private imagedClient: ImageClient | undefined;
  private helperClient: HelperClient | undefined;
  private readonly infoClients = new Map<DaemonName, ServiceClient<ServerInfoService>>();

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
    /** The definitions of the daemons this command calls (loaded by the dispatcher). */
    readonly services: ServiceDefinitions,
  ) {
    this.style = makeStyle(colorEnabled(io.stdout, io.env));
    this.errStyle = makeStyle(colorEnabled(io.stderr, io.env));
    this.interrupt = io.interrupt ?? new AbortController().signal;
    this.daemons = daemonInfos(globals);
  }

  get json(): boolean {
    return this.globals.json;
  }

  now(): Date {
    return this.io.now?.() ?? new Date();
  }

  vmd(): VmClient {
    this.vmdClient ??= this.track(annotated(new ServiceClient(this.service('vmd'), this.globals.vmdSocket, { peer: 'vmd' }), this.daemons.vmd));
    return this.vmdClient;
  }

  imaged(): ImageClient {
    this.imagedClient ??= this.track(annotated(new ServiceClient(this.service('imaged'), this.globals.imagedSocket, { peer: 'imaged' }), this.daemons.imaged));
    return this.imagedClient;
  }

  helper(): HelperClient {
    this.helperClient ??= this.track(annotated(new ServiceClient(this.service('privhelper'), this.globals.helperSocket, { peer: 'privhelper' }), this.daemons.privhelper));
    return this.helperClient;
  }

  /** A client that can only ask `daemon` for GetServerInfo, without its service's code. */
  serverInfo(daemon: DaemonName): ServiceClient<ServerInfoService> {
    let client = this.infoClients.get(daemon);
    if (!client) {
      const info = this.daemons[daemon];
      client = this.track(annotated(new ServiceClient<ServerInfoService>(SERVER_INFO_SERVICES[daemon], info.socket, { peer: daemon }), info));
      this.infoClients.set(daemon, client);
    }
    return client;
  }

  private service<D extends DaemonName>(daemon: D): NonNullable<ServiceDefinitions[D]> {
    const def = this.services[daemon];
    if (!def) throw new CliError(`internal error: this command did not declare that it calls ${daemon} (daemons in commands/manifest.ts)`, EXIT.GENERIC, 'UNDECLARED_DAEMON');
    return def;
  }

  /** Call options for unary RPCs: the --timeout deadline (unless given) and cancel on Ctrl-C. */
  callOptions(extra: CallOptions = {}): CallOptions {
    const out: CallOptions = { signal: this.interrupt, ...extra };
    if (out.timeoutMs === undefined && this.globals.timeoutMs !== undefined) out.timeoutMs = this.globals.timeoutMs;
    return out;
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  write(text: string): void {
    this.io.stdout.write(text);
  }

  printJson(value: unknown): void {
    writeJson(this.io.stdout, value);
  }

  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    this.io.stdout.write(renderTable(headers, rows));
  }

  warn(message: string): void {
    if (this.json) writeJson(this.io.stderr, { warning: message }, true);
    else this.io.stderr.write(`banger: ${this.errStyle.yellow('warning:')} ${message}\n`);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private track<C extends { close(): void }>(client: C): C {
    this.clients.push(client);
    return client;
  }
}
