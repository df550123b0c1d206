export interface GuestCmdlineInput {
  initPath: string;
  ipv4: string;
  prefix: number;
  gateway: string;
  hostname: string;
  sshPublicKey: string;
  secrets: Record<string, string>;
  /** The image's kernel arguments (`key` or `key=value`); banger's own keys win over them. */
  imageArgs?: readonly string[];
}

/**
 * banger's kernel command line for a guest: the guest side (banger-init or the systemd
 * units baked into the image) reads its address, gateway, DNS, hostname, authorised key and
 * service secrets from these `banger.*` keys, because the stock kernel has no IP autoconfig.
 */
export function guestCmdline(c: GuestCmdlineInput): { key: string; value: string }[] {
  const args = [
    { key: 'console', value: 'ttyS0' },
    { key: 'root', value: '/dev/vda' },
    { key: 'rw', value: '' },
    { key: 'panic', value: '-1' },
    { key: 'banger.ip', value: `${c.ipv4}/${c.prefix}` },
    { key: 'banger.gw', value: c.gateway },
    { key: 'banger.dns', value: c.gateway },
    { key: 'banger.hostname', value: c.hostname },
  ];
  if (c.initPath) args.push({ key: 'init', value: c.initPath });
  if (c.sshPublicKey) args.push({ key: 'banger.ssh_key', value: Buffer.from(c.sshPublicKey.trim()).toString('base64') });
  for (const [name, secret] of Object.entries(c.secrets)) args.push({ key: `banger.secret.${name}`, value: secret });
  const taken = new Set(args.map((a) => a.key));
  for (const raw of c.imageArgs ?? []) {
    const eq = raw.indexOf('=');
    const arg = eq < 0 ? { key: raw, value: '' } : { key: raw.slice(0, eq), value: raw.slice(eq + 1) };
    if (!arg.key || taken.has(arg.key)) continue;
    taken.add(arg.key);
    args.push(arg);
  }
  return args;
}
