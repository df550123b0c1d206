import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * vitest globalSetup of the integration project: the harness starts every daemon and the CLI
 * through their launchers, which run the compiled bundles, like production. Building first
 * (about a second) means a test never runs bundles older than the sources it was edited with.
 */
export default function setup(): void {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed (exit ${String(r.status)}): the integration tests run the compiled launchers`);
}
