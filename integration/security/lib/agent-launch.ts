import { spawn } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../../harness/daemons.js';
import type { Account } from '../../harness/accounts.js';

/** How to start the attacker agent as banger, and what it reads. */
export interface AgentLaunch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  /** HOME and TMPDIR of the attacker: a banger-owned 0700 directory in the throwaway tree. */
  readonly home: string;
  readonly mode: 'in-place' | 'bundled';
}

const AGENT = path.join(REPO_ROOT, 'integration', 'security', 'attacker', 'agent.ts');
/** What the in-place agent must be able to read: itself, the loader, the generated API, the runtime. */
const NEEDED = [AGENT, path.join(REPO_ROOT, 'node_modules', 'tsx', 'package.json'), path.join(REPO_ROOT, 'packages', 'api', 'gen'), path.join(REPO_ROOT, 'packages', 'runtime', 'src')];

function runAs(account: Account, file: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { uid: account.uid, gid: account.gid, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => resolve({ code: -1, out: err.message }));
    child.once('close', (code) => resolve({ code, out }));
  });
}

/**
 * Server-only dependencies of @banger/runtime that load files next to themselves at import
 * time, which a bundle cannot; the agent is a client and never constructs a server.
 */
const serverOnlyStubs = {
  name: 'server-only-stubs',
  setup(build: { onResolve: (o: { filter: RegExp }, f: (a: { path: string }) => { path: string; namespace: string }) => void; onLoad: (o: { filter: RegExp; namespace: string }, f: () => { contents: string }) => void }): void {
    build.onResolve({ filter: /^(@grpc\/reflection|grpc-health-check)$/ }, (a) => ({ path: a.path, namespace: 'server-only' }));
    build.onLoad({ filter: /.*/, namespace: 'server-only' }, () => ({
      contents: 'export class ReflectionService { constructor() { throw new Error("server-only"); } } export class HealthImplementation { constructor() { throw new Error("server-only"); } }',
    }));
  },
};

/**
 * Runs the agent from the worktree when the banger uid can read it (checked by trying, as
 * banger), else from an esbuild bundle copied into the attacker's own directory. Either way no
 * permission outside the throwaway tree is changed: a checkout under /root stays 0700.
 */
export async function prepareAgentLaunch(account: Account, home: string, opts: { forceBundle?: boolean } = {}): Promise<AgentLaunch> {
  const node = process.execPath;
  const probe = `const fs=require('fs');for(const p of ${JSON.stringify(NEEDED)})fs.accessSync(p,fs.constants.R_OK);`;
  const nodeOk = await runAs(account, node, ['-e', 'process.exit(0)']);
  if (nodeOk.code !== 0) throw new Error(`the banger user cannot run ${node} (${nodeOk.out.trim()}): install node where every user can run it, e.g. /usr/bin/node`);
  const base = { uid: account.uid, gid: account.gid, home };
  const readable = !opts.forceBundle && (await runAs(account, node, ['-e', probe])).code === 0;
  if (readable) {
    return { ...base, file: node, args: ['--import', 'tsx', AGENT], cwd: REPO_ROOT, mode: 'in-place' };
  }
  const dir = path.join(home, 'agent');
  await mkdir(dir, { recursive: true });
  const esbuild = await import('esbuild');
  const outfile = path.join(dir, 'agent.mjs');
  await esbuild.build({
    entryPoints: [AGENT],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    plugins: [serverOnlyStubs],
    // grpc-js and pino are CommonJS; give the ESM bundle the `require` they expect.
    banner: { js: "import { createRequire as __bangerRequire } from 'node:module'; const require = __bangerRequire(import.meta.url);" },
  });
  await chmod(dir, 0o755);
  return { ...base, file: node, args: [outfile], cwd: dir, mode: 'bundled' };
}
