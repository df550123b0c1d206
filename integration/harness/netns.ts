import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Throwaway network namespaces for tests that need real interfaces, nftables or sockets
 * without ever touching the host's networking. Every namespace made here is deleted by
 * `destroy()` and, as a safety net, when the process exits.
 */

const live = new Set<string>();
let hooked = false;

function deleteAllSync(): void {
  for (const name of live) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // Already gone: nothing left to clean.
    }
  }
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', deleteAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      deleteAllSync();
      process.kill(process.pid, sig);
    });
  }
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

function run(file: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ stdout, stderr, code });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** Why the namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return '`ip netns` unavailable';
  }
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'nft not installed';
  }
  return undefined;
}

export class Netns {
  private constructor(readonly name: string) {}

  /** Creates `banger-t-<random>` with loopback up. */
  static async create(): Promise<Netns> {
    hookExit();
    const name = `banger-t-${randomBytes(4).toString('hex')}`;
    const r = await run('ip', ['netns', 'add', name]);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
    live.add(name);
    const ns = new Netns(name);
    await ns.must('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs FILE ARGS inside the namespace; never throws on a non-zero exit. */
  exec(file: string, args: readonly string[], input?: string): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.name, file, ...args], input);
  }

  /** Like exec but throws on failure, for setup steps. */
  async must(file: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.exec(file, args, input);
    if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} in ${this.name}: ${r.stderr}`);
    return r.stdout;
  }

  /** argv prefix to start a long-running process inside the namespace with spawn(). */
  wrap(file: string, args: readonly string[]): { file: string; args: string[] } {
    return { file: 'ip', args: ['netns', 'exec', this.name, file, ...args] };
  }

  async linkNames(): Promise<string[]> {
    const out = await this.must('ip', ['-j', 'link', 'show']);
    return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
  }

  async destroy(): Promise<void> {
    if (!live.has(this.name)) return;
    const r = await run('ip', ['netns', 'del', this.name]);
    if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(`ip netns del ${this.name}: ${r.stderr}`);
    live.delete(this.name);
  }
}

/** The host's interface names and nft tables, to prove a test left them alone. */
export async function hostNetworkSnapshot(): Promise<{ links: string[]; tables: string[]; netns: string[] }> {
  const links = (JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).sort();
  const tables = (await run('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.length > 0).sort();
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.length > 0 && !live.has(n)).sort();
  return { links, tables, netns };
}
