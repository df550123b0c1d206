import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { vmv1 } from '@banger/api';
import { hostKeyAlias, knownHostsPath } from './ssh.js';

type Env = Record<string, string | undefined>;

/**
 * Writes the host keys vmd made for VMs (clones) into the user's banger known_hosts under each
 * VM's HostKeyAlias, replacing what that alias had, so ssh verifies a clone's keys strictly on
 * the first connection instead of accepting whatever answers. VMs whose guest made its own keys
 * (no `ssh.hostKeys`) keep accept-new. Returns how many aliases it wrote.
 */
export async function recordHostKeys(vms: readonly vmv1.Vm[], env: Env): Promise<number> {
  const known = vms.filter((vm) => vm.id && (vm.ssh?.hostKeys.length ?? 0) > 0);
  if (known.length === 0) return 0;
  const file = knownHostsPath(env);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const aliases = new Set(known.map(hostKeyAlias));
  const current = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const kept = current.split('\n').filter((line) => line !== '' && !aliases.has(line.split(' ')[0] ?? ''));
  const added = known.flatMap((vm) => (vm.ssh?.hostKeys ?? []).map((k) => `${hostKeyAlias(vm)} ${k.split(' ').slice(0, 2).join(' ')}`));
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, [...kept, ...added].join('\n') + '\n', { mode: 0o600 });
  await rename(tmp, file);
  return known.length;
}
