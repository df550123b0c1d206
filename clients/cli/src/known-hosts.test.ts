import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmv1 } from '@banger/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordHostKeys } from './known-hosts.js';

const vm = (id: string, hostKeys: string[]): vmv1.Vm => vmv1.Vm.fromPartial({ id, name: id, ssh: { hostKeys } });

describe('recordHostKeys', () => {
  let dir = '';
  let env: Record<string, string>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-kh-'));
    env = { XDG_STATE_HOME: dir };
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('writes the keys under the alias, replaces that alias\'s old lines and keeps others', async () => {
    await mkdir(join(dir, 'banger'));
    await writeFile(join(dir, 'banger', 'known_hosts'), 'banger-vm-a ssh-ed25519 OLD\nbanger-vm-b ssh-ed25519 KEEP\n');
    expect(await recordHostKeys([vm('a', ['ssh-ed25519 NEW root@a', 'ecdsa-sha2-nistp256 EC root@a']), vm('c', [])], env)).toBe(1);
    expect(await readFile(join(dir, 'banger', 'known_hosts'), 'utf8')).toBe('banger-vm-b ssh-ed25519 KEEP\nbanger-vm-a ssh-ed25519 NEW\nbanger-vm-a ecdsa-sha2-nistp256 EC\n');
  });

  it('touches nothing when no VM carries host keys', async () => {
    expect(await recordHostKeys([vm('a', [])], env)).toBe(0);
    await expect(readFile(join(dir, 'banger', 'known_hosts'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
