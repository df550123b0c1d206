import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * banger's own SSH key pair (<state>/ssh/id_ed25519), authorised in every VM so that
 * `banger vm ssh NAME` works without the user copying keys; made once, on first start.
 * Extra user keys can be authorised per VM through CreateVm.ssh_authorized_keys.
 */
export async function ensureSshKey(stateDir: string): Promise<{ privateKeyPath: string; publicKey: string }> {
  const dir = join(stateDir, 'ssh');
  const privateKeyPath = join(dir, 'id_ed25519');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let publicKey = await readFile(`${privateKeyPath}.pub`, 'utf8').catch(() => '');
  if (!publicKey) {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'banger', '-f', privateKeyPath]);
    publicKey = await readFile(`${privateKeyPath}.pub`, 'utf8');
  }
  return { privateKeyPath, publicKey: publicKey.trim() };
}
