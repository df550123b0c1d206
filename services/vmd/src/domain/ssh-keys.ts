import { excerpt, InvalidArgumentError } from '@banger/runtime/errors';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
const MAX_KEYS = 16;
const MAX_KEY_CHARS = 4096;
const BODY = /^[A-Za-z0-9+/]+={0,3}$/;
const COMMENT = /^[\x20-\x7e]*$/;

/**
 * Public keys a user asks to authorise for root in the guest (CreateVm.ssh_authorized_keys).
 * Each must be one plain `TYPE BASE64 [COMMENT]` line, no authorized_keys options: they are
 * written into the guest as lines of authorized_keys, so a newline or an option would let a
 * request add more than a key.
 */
export function validateSshKeys(keys: readonly string[], field = 'ssh_authorized_keys'): string[] {
  if (keys.length > MAX_KEYS) throw new InvalidArgumentError(field, `at most ${MAX_KEYS} keys, got ${keys.length}`, 'TOO_MANY_KEYS');
  return keys.map((raw, i) => {
    const f = `${field}[${i}]`;
    const key = raw.trim();
    if (key.length > MAX_KEY_CHARS) throw new InvalidArgumentError(f, `must be at most ${MAX_KEY_CHARS} characters`, 'INVALID_SSH_KEY');
    const [type = '', body = '', ...rest] = key.split(/ +/);
    const comment = rest.join(' ');
    if (!KEY_TYPES.has(type) || !BODY.test(body) || !COMMENT.test(comment)) {
      throw new InvalidArgumentError(f, `${excerpt(key)} is not one OpenSSH public key line (TYPE BASE64 [COMMENT], e.g. from ~/.ssh/id_ed25519.pub)`, 'INVALID_SSH_KEY');
    }
    return comment ? `${type} ${body} ${comment}` : `${type} ${body}`;
  });
}
