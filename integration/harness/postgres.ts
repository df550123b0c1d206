/**
 * Throwaway PostgreSQL clusters for integration tests: initdb into a temp dir, listen only on a
 * Unix socket inside it, trust auth. Runs the machine's own server binaries (installing the
 * Debian package when missing) as the `postgres` user when the tests run as root, because
 * initdb refuses root.
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresServer {
  /** Connection string of the `postgres` database over the Unix socket. */
  url: string;
  dataDir: string;
  socketDir: string;
  binDir: string;
  /** A new empty database on this server; returns its connection string. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown; data is kept so `start` brings the same cluster back. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Starts it again after its postmaster was SIGKILLed (retried while its orphaned backends still hold its shared memory). */
  startAfterKill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  dispose(): Promise<void>;
  /** The running postmaster's pid (from postmaster.pid): what a fault test SIGKILLs. */
  postmasterPid(): number | undefined;
}

export interface PostgresOptions {
  /**
   * Keep PostgreSQL's own flush defaults (fsync, synchronous_commit, full_page_writes on):
   * for tests that SIGKILL the server and expect every acknowledged commit back. Without it
   * the cluster trades durability for speed (fine while the server itself is never killed).
   */
  durable?: boolean;
}

export type Availability = { ok: true; binDir: string } | { ok: false; reason: string };

const PREFERRED_VERSION = '15';

function findBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  const candidates: string[] = [join(base, PREFERRED_VERSION, 'bin')];
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort().reverse()) candidates.push(join(base, v, 'bin'));
  }
  return candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) ?? null;
}

let availability: Promise<Availability> | undefined;

/**
 * Finds server binaries, installing `postgresql-15` through apt when they are missing and we are
 * root. Memoised: tests call it at import time to decide whether to skip.
 */
export function postgresAvailability(): Promise<Availability> {
  availability ??= (async (): Promise<Availability> => {
    let binDir = findBinDir();
    if (!binDir) {
      if (process.getuid?.() !== 0) return { ok: false, reason: 'PostgreSQL server binaries missing and not root to install them' };
      try {
        const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
        await run('apt-get', ['install', '-y', '--no-install-recommends', `postgresql-${PREFERRED_VERSION}`], { env }).catch(async () => {
          await run('apt-get', ['update'], { env });
          await run('apt-get', ['install', '-y', '--no-install-recommends', `postgresql-${PREFERRED_VERSION}`], { env });
        });
      } catch (err) {
        return { ok: false, reason: `installing postgresql-${PREFERRED_VERSION} failed: ${(err as Error).message}` };
      }
      binDir = findBinDir();
      if (!binDir) return { ok: false, reason: 'PostgreSQL binaries still missing after apt-get install' };
    }
    if (process.getuid?.() === 0) {
      try {
        execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
      } catch {
        return { ok: false, reason: 'running as root but there is no postgres user to run initdb as' };
      }
    }
    return { ok: true, binDir };
  })();
  return availability;
}

function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function runServerTool(binDir: string, tool: string, args: string[]): Promise<void> {
  const [cmd, argv] = asServerUser(join(binDir, tool), args);
  try {
    await run(cmd, argv, { cwd: '/' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

function urlFor(socketDir: string, database: string): string {
  return `postgresql://postgres@localhost/${database}?host=${encodeURIComponent(socketDir)}`;
}

const live = new Set<{ binDir: string; dataDir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        const [cmd, argv] = asServerUser(join(s.binDir, 'pg_ctl'), ['stop', '-D', s.dataDir, '-m', 'immediate']);
        execFileSync(cmd, argv, { stdio: 'ignore', cwd: '/' });
      } catch {
        // best effort: the server may already be down
      }
    }
  });
}

/** Starts a fresh cluster (~1.5 s). Call `dispose()` in afterAll. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const avail = await postgresAvailability();
  if (!avail.ok) throw new Error(`PostgreSQL unavailable: ${avail.reason}`);
  const { binDir } = avail;
  const root = mkdtempSync(join(tmpdir(), 'banger-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
  }
  // The socket lives here: vmd and imaged connect to it as the banger user (the data directory
  // below stays 0700, initdb sees to that).
  chmodSync(root, 0o755);
  const dataDir = join(root, 'data');
  const socketDir = root;
  const logFile = join(root, 'server.log');
  await runServerTool(binDir, 'initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    [
      "listen_addresses = ''",
      `unix_socket_directories = '${socketDir}'`,
      ...(opts.durable === true ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
      'max_connections = 100',
      '',
    ].join('\n'),
  );
  const entry = { binDir, dataDir };
  let running = false;

  const start = async (): Promise<void> => {
    await runServerTool(binDir, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60']);
    running = true;
    live.add(entry);
    installExitHook();
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    await runServerTool(binDir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
    running = false;
    live.delete(entry);
  };
  try {
    await start();
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    rmSync(root, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${log}`);
  }

  let counter = 0;
  const url = urlFor(socketDir, 'postgres');
  return {
    url,
    dataDir,
    socketDir,
    binDir,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `t_${process.pid}_${++counter}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`bad database name ${db}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${db}`);
      } finally {
        await client.end();
      }
      return urlFor(socketDir, db);
    },
    stop,
    start,
    async startAfterKill() {
      for (let i = 0; ; i++) {
        try {
          return await start();
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
    async restart() {
      await stop();
      await start();
    },
    postmasterPid() {
      try {
        const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 0);
        return pid;
      } catch {
        return undefined;
      }
    },
    async dispose() {
      try {
        await stop();
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
