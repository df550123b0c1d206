import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostKeyFingerprint, newHostKeys, newMachineId } from './host-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'banger-hostkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sshKeygen(args: string[]): string | undefined {
  try {
    return execFileSync('ssh-keygen', args, { encoding: 'utf8' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

describe('newHostKeys', () => {
  const keys = newHostKeys('clone-1');

  it('makes an ed25519 and an ecdsa pair, different every time', () => {
    expect(keys.map((k) => k.type)).toEqual(['ed25519', 'ecdsa']);
    expect(keys[0]!.publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* clone-1$/);
    expect(keys[1]!.publicKey).toMatch(/^ecdsa-sha2-nistp256 [A-Za-z0-9+/]+=* clone-1$/);
    expect(newHostKeys('clone-1')[0]!.publicKey).not.toBe(keys[0]!.publicKey);
  });

  it.each([0, 1])('OpenSSH reads private key %i and derives the same public key and fingerprint', (i) => {
    const k = keys[i]!;
    const file = join(dir, `key-${i}`);
    writeFileSync(file, k.privateKey, { mode: 0o600 });
    const derived = sshKeygen(['-y', '-f', file]);
    if (derived === undefined) return expect.fail('ssh-keygen (openssh-client) is needed to check the key format');
    expect(derived.trim().split(' ').slice(0, 2)).toEqual(k.publicKey.split(' ').slice(0, 2));
    const listed = sshKeygen(['-l', '-f', file]) ?? '';
    expect(listed.split(' ')[1]).toBe(hostKeyFingerprint(k.publicKey));
  });
});

describe('newMachineId', () => {
  it('is 32 lowercase hex digits and new each time', () => {
    const a = newMachineId();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(newMachineId()).not.toBe(a);
  });
});
