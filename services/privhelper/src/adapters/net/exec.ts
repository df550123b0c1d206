import { isProcError, run } from '@banger/proc';
import { NetError } from '../../domain/network/errors.js';
import type { NetErrorKind } from '../../domain/network/errors.js';
import { validateNetnsName } from '../../domain/network/names.js';

/** Where network tools live and how long they may take; overridable so a hardened unit can pin paths. */
export interface NetTools {
  readonly ip: string;
  readonly nft: string;
  readonly sysctl: string;
  readonly timeoutMs: number;
}

export const DEFAULT_TOOLS: NetTools = { ip: 'ip', nft: 'nft', sysctl: 'sysctl', timeoutMs: 15_000 };

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs every network tool either on the host or inside one named network namespace. The
 * namespace is applied by the tool itself (`ip -n NS`, `ip netns exec NS nft`), so tests
 * given a throwaway namespace cannot reach the host's interfaces or ruleset.
 */
export class NetRunner {
  readonly netns: string | undefined;
  readonly tools: NetTools;

  constructor(opts: { netns?: string | undefined; tools?: Partial<NetTools> } = {}) {
    this.netns = opts.netns === undefined ? undefined : validateNetnsName(opts.netns);
    this.tools = { ...DEFAULT_TOOLS, ...opts.tools };
  }

  /** `ip [-n NS] -j? ARGS`. */
  ip(args: readonly string[], input?: string): Promise<RunResult> {
    const pre = this.netns === undefined ? [] : ['-n', this.netns];
    return this.exec(this.tools.ip, [...pre, ...args], input);
  }

  /** `nft ARGS`, inside the namespace via `ip netns exec`. */
  nft(args: readonly string[], input?: string): Promise<RunResult> {
    return this.inNetns(this.tools.nft, args, input);
  }

  /** Sets a sysctl inside the namespace. Refuses on the host: the host's forwarding is not ours to change in tests. */
  async sysctlInNetns(key: 'net.ipv4.ip_forward', value: '0' | '1'): Promise<void> {
    if (this.netns === undefined) throw new NetError('FAILED_PRECONDITION', 'HOST_SYSCTL_REFUSED', 'sysctl is only set inside a named network namespace');
    await this.inNetns(this.tools.sysctl, ['-q', '-w', `${key}=${value}`]);
  }

  /** Sets a sysctl on the host; only reached behind the explicit `manageIpForward` flag. */
  async sysctlHost(key: 'net.ipv4.ip_forward', value: '0' | '1'): Promise<void> {
    await this.exec(this.tools.sysctl, ['-q', '-w', `${key}=${value}`]);
  }

  private inNetns(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
    if (this.netns === undefined) return this.exec(cmd, args, input);
    return this.exec(this.tools.ip, ['netns', 'exec', this.netns, cmd, ...args], input);
  }

  /** Through the shared runner: pinned PATH and C.UTF-8 locale, so stderr can be matched reliably. */
  private async exec(file: string, args: readonly string[], input?: string): Promise<RunResult> {
    const { stdout, stderr } = await run(file, args, { timeoutMs: this.tools.timeoutMs, ...(input !== undefined ? { input } : {}) });
    return { stdout, stderr };
  }
}

const PATTERNS: readonly (readonly [RegExp, NetErrorKind, string])[] = [
  [/Cannot open network namespace|netns .* not found/i, 'NOT_FOUND', 'NETNS_NOT_FOUND'],
  [/Cannot find device|does not exist|No such device/i, 'NOT_FOUND', 'DEVICE_NOT_FOUND'],
  [/File exists/i, 'ALREADY_EXISTS', 'ALREADY_EXISTS'],
  [/Operation not permitted|Permission denied/i, 'PERMISSION_DENIED', 'NET_PERMISSION_DENIED'],
  [/Device or resource busy/i, 'FAILED_PRECONDITION', 'DEVICE_BUSY'],
  [/No such file or directory/i, 'NOT_FOUND', 'NOT_FOUND'],
  [/No buffer space|Cannot allocate memory/i, 'RESOURCE_EXHAUSTED', 'KERNEL_RESOURCES'],
];

/**
 * Classifies a tool failure by its (C-locale) stderr. Adapters catch the classes they expect
 * (NOT_FOUND on delete, ALREADY_EXISTS on create) and decide whether it is really a conflict.
 * A tool that could not run at all (missing, timed out) keeps the runner's code and reason.
 */
export function classify(err: unknown, what: string, fields: Record<string, string> = {}): NetError {
  if (err instanceof NetError) return err;
  if (isProcError(err, 'TOOL_FAILED')) {
    for (const [re, kind, reason] of PATTERNS) {
      if (re.test(err.stderr)) return new NetError(kind, reason, `${what}: ${err.stderr.trim().split('\n')[0] ?? ''}`, fields, { cause: err });
    }
  } else if (isProcError(err)) {
    return new NetError(err.code, err.reason, err.message, { ...err.fields, ...fields }, { cause: err });
  }
  return new NetError('INTERNAL', 'NET_TOOL_FAILED', `${what} failed`, fields, { cause: err });
}

/** Runs F, mapping failures to NetError; the kinds in `ignore` resolve to undefined (idempotent deletes). */
export async function tolerate<T>(f: () => Promise<T>, what: string, ignore: readonly NetErrorKind[], fields: Record<string, string> = {}): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    const e = classify(err, what, fields);
    if (ignore.includes(e.kind) && e.reason !== 'NETNS_NOT_FOUND') return undefined;
    throw e;
  }
}
