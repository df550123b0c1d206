import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, loadConfig } from './config.js';

/** Where a system install's daemons listen: `banger system install` writes this run_dir. */
export const SYSTEM_RUN_DIR = '/run/banger';

export interface ClientSockets {
  vmd: string;
  imaged: string;
  privhelper: string;
  /** What decided: `BANGER_RUN_DIR`, a config file's path, `system install layout` or `per-user defaults`. */
  from: string;
  /** Why a config file that exists was not used (unreadable or invalid), if so. */
  configProblem?: string;
}

const inRunDir = (runDir: string, from: string): ClientSockets => ({
  vmd: join(runDir, 'vmd.sock'),
  imaged: join(runDir, 'imaged.sock'),
  privhelper: join(runDir, 'helper', 'privhelper.sock'),
  from,
});

/**
 * The daemons' sockets as a client (the CLI, @banger/client) finds them, so it talks to the
 * daemons this config starts: `BANGER_RUN_DIR`; else the config file the daemons read
 * (`BANGER_CONFIG`, the user's `~/.config/banger/config.toml`, `/etc/banger/config.toml`) with
 * its `[vmd] socket`, `[paths] run_dir` and environment overrides; without one, the system
 * install's `/run/banger` where it exists (or for root), else the per-user run dir a user's own
 * daemons default to (`$XDG_RUNTIME_DIR/banger`). Per-socket flags and `BANGER_*_SOCKET` come
 * first, in the caller.
 */
export function clientSockets(env: Record<string, string | undefined>, uid: number = process.getuid?.() ?? 0): ClientSockets {
  const runDir = env['BANGER_RUN_DIR'];
  if (runDir) return inRunDir(runDir, 'BANGER_RUN_DIR');
  let configProblem: string | undefined;
  try {
    const config = loadConfig({ env, uid });
    if (config.source !== 'defaults') return { vmd: config.vmd.socket, imaged: config.imaged.socket, privhelper: config.privhelper.socket, from: config.source };
  } catch (err) {
    configProblem = err instanceof Error ? err.message : String(err);
  }
  const out =
    uid === 0 || existsSync(SYSTEM_RUN_DIR)
      ? inRunDir(SYSTEM_RUN_DIR, 'system install layout')
      : (() => {
          const d = buildConfig({}, 'defaults', { env, uid });
          return { vmd: d.vmd.socket, imaged: d.imaged.socket, privhelper: d.privhelper.socket, from: 'per-user defaults' };
        })();
  return configProblem === undefined ? out : { ...out, configProblem };
}
