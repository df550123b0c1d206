import { ImageKitError } from './errors.js';

/** Guest-side settings banger passes on the kernel command line (read by /usr/lib/banger/*). */
export interface GuestBootConfig {
  /** init= path; the image's default mode from its recipe (/sbin/banger-init or /sbin/init). */
  init: string;
  /** Root device; /dev/vda for virtio-blk. */
  root?: string;
  /** CIDR address, e.g. 10.0.0.2/24. Omit for a network-less boot. */
  ip?: string;
  gateway?: string;
  dns?: string[];
  hostname?: string;
  /** authorized_keys content; sent base64-encoded as banger.ssh_key. */
  sshAuthorizedKeys?: string;
  /** Per-service secrets (banger.secret.NAME=); visible in the host's process list, prefer the generated file. */
  secrets?: Record<string, string>;
  /** Extra image arguments (recipe kernelArgs) and hypervisor arguments (tsc_early_khz=...). */
  extra?: string[];
}

const SAFE = /^[A-Za-z0-9._:/,@+=-]+$/;

function check(field: string, v: string, re: RegExp = SAFE): string {
  if (!re.test(v) || v.length > 512) {
    throw new ImageKitError('INVALID_ARGUMENT', 'BAD_CMDLINE_VALUE', `${field} has an invalid value`, { field });
  }
  return v;
}

/** Builds the kernel command line for a banger guest, validating every value (no spaces/quotes). */
export function guestKernelCmdline(c: GuestBootConfig): string {
  const args = ['console=ttyS0', `root=${check('root', c.root ?? '/dev/vda')}`, 'rw', 'panic=-1', `init=${check('init', c.init)}`];
  if (c.ip !== undefined) args.push(`banger.ip=${check('ip', c.ip, /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/)}`);
  if (c.gateway !== undefined) args.push(`banger.gw=${check('gateway', c.gateway, /^\d{1,3}(\.\d{1,3}){3}$/)}`);
  if (c.dns?.length) args.push(`banger.dns=${c.dns.map((d) => check('dns', d, /^[0-9a-fA-F.:]+$/)).join(',')}`);
  if (c.hostname !== undefined) args.push(`banger.hostname=${check('hostname', c.hostname, /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)}`);
  if (c.sshAuthorizedKeys !== undefined) args.push(`banger.ssh_key=${Buffer.from(c.sshAuthorizedKeys).toString('base64')}`);
  for (const [k, v] of Object.entries(c.secrets ?? {})) {
    args.push(`banger.secret.${check('secret name', k, /^[a-z][a-z0-9-]{0,30}$/)}=${check('secret', v, /^[A-Za-z0-9._-]{1,128}$/)}`);
  }
  for (const e of c.extra ?? []) args.push(check('extra', e));
  const line = args.join(' ');
  if (line.length > 2000) throw new ImageKitError('INVALID_ARGUMENT', 'CMDLINE_TOO_LONG', 'kernel command line exceeds 2000 bytes');
  return line;
}
