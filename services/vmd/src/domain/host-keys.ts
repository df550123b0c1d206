import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';

/** One SSH host key pair in the files sshd reads: the private key and its public line. */
export interface HostKeyPair {
  type: 'ed25519' | 'ecdsa';
  /** OpenSSH private key file (`openssh-key-v1`, unencrypted), as sshd reads /etc/ssh/ssh_host_*_key. */
  privateKey: string;
  /** `TYPE BASE64 COMMENT`, as in ssh_host_*_key.pub. */
  publicKey: string;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sshString(v: Buffer | string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v) : v;
  return Buffer.concat([u32(b.length), b]);
}

function mpint(v: Buffer): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  return sshString((body[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function b64url(s: string | undefined): Buffer {
  return Buffer.from(s ?? '', 'base64url');
}

function armour(publicBlob: Buffer, privateFields: Buffer, comment: string): string {
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, privateFields, sshString(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), u32(1), sshString(publicBlob), sshString(priv)]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');
}

function ed25519(comment: string): HostKeyPair {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const pub = b64url(jwk.x);
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const fields = Buffer.concat([sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([b64url(jwk.d), pub]))]);
  return { type: 'ed25519', privateKey: armour(blob, fields, comment), publicKey: `ssh-ed25519 ${blob.toString('base64')} ${comment}` };
}

function ecdsa(comment: string): HostKeyPair {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
  const type = 'ecdsa-sha2-nistp256';
  const blob = Buffer.concat([sshString(type), sshString('nistp256'), sshString(point)]);
  const fields = Buffer.concat([sshString(type), sshString('nistp256'), sshString(point), mpint(b64url(jwk.d))]);
  return { type: 'ecdsa', privateKey: armour(blob, fields, comment), publicKey: `${type} ${blob.toString('base64')} ${comment}` };
}

/**
 * New SSH host keys for a clone, made on the host: in the guest under TCG, ssh-keygen took
 * seconds; here it is a fraction of a millisecond, and vmd knows the public keys before the
 * guest has them (so `vm ssh` can trust them without a prompt). ed25519 and ecdsa only, as the
 * guest's own first boot makes them; RSA would take seconds even on the host.
 */
export function newHostKeys(comment: string): HostKeyPair[] {
  return [ed25519(comment), ecdsa(comment)];
}

/** `SHA256:...` as ssh-keygen -l prints it, for a `TYPE BASE64 [COMMENT]` line. */
export function hostKeyFingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.split(' ')[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** A new /etc/machine-id value: 32 lowercase hex digits, never all zero. */
export function newMachineId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (!/^0+$/.test(id)) return id;
  }
}
