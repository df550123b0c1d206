import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/** What `ssh-config --install` did, for the user and for --json. */
export interface SshInstallResult {
  file: string;
  config: string;
  includeAdded: boolean;
}

const INCLUDE_LINE = 'Include banger.conf';
const INCLUDE_RE = /^\s*Include\s+(?:~\/\.ssh\/|.*\/)?banger\.conf\s*$/im;

/**
 * Writes the generated blocks to ~/.ssh/banger.conf (0600, replaced atomically) and makes sure
 * ~/.ssh/config includes it. The Include goes first: ssh applies the first value it reads for
 * each option, and an Include after a `Host` line would be scoped to that host. Idempotent:
 * running it again rewrites banger.conf and leaves ~/.ssh/config alone.
 */
export async function installSshConfig(text: string, env: Env): Promise<SshInstallResult> {
  const dir = join(env['HOME'] || homedir(), '.ssh');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'banger.conf');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  const config = join(dir, 'config');
  const current = await readFile(config, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (current !== undefined && INCLUDE_RE.test(current)) return { file, config, includeAdded: false };
  const next = `# added by \`banger ssh-config --install\`: blocks for banger's VMs\n${INCLUDE_LINE}\n\n${current ?? ''}`;
  const ctmp = `${config}.${process.pid}.tmp`;
  await writeFile(ctmp, next, { mode: 0o600 });
  await rename(ctmp, config);
  return { file, config, includeAdded: true };
}
