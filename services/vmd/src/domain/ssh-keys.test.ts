import { describe, expect, it } from 'vitest';
import { validateSshKeys } from './ssh-keys.js';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Vq8Xwq9RkqG5C1b7yq0KX8bT+Ihw0W2f2dH4pG0mZ user@laptop';

describe('validateSshKeys', () => {
  it('accepts OpenSSH public key lines, trimmed', () => {
    expect(validateSshKeys([`  ${ED}\n`])).toEqual([ED]);
    expect(validateSshKeys(['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ=='])).toEqual(['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==']);
  });

  it.each([
    ['a second line', `${ED}\nssh-ed25519 AAAA x`],
    ['options', `command="/bin/sh" ${ED}`],
    ['a private key', '-----BEGIN OPENSSH PRIVATE KEY-----'],
    ['an unknown type', 'ssh-dss AAAAB3NzaC1kc3M='],
    ['a control character', `${ED}\u0000`],
  ])('refuses %s naming the key', (_what, key) => {
    expect(() => validateSshKeys([ED, key])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', reason: 'INVALID_SSH_KEY', field: 'ssh_authorized_keys[1]' }) as Error);
  });

  it('refuses too many keys', () => {
    expect(() => validateSshKeys(Array.from({ length: 17 }, () => ED))).toThrow(expect.objectContaining({ reason: 'TOO_MANY_KEYS' }) as Error);
  });
});
