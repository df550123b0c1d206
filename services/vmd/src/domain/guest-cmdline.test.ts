import { describe, expect, it } from 'vitest';
import { guestCmdline } from './guest-cmdline.js';

const base = { initPath: '/sbin/banger-init', ipv4: '172.30.0.2', prefix: 24, gateway: '172.30.0.1', hostname: 'dev', sshPublicKey: '', secrets: {} };

describe('guestCmdline', () => {
  it("appends the image's kernel arguments after banger's own", () => {
    const args = guestCmdline({ ...base, imageArgs: ['net.ifnames=0', 'quiet'] });
    expect(args.slice(-2)).toEqual([
      { key: 'net.ifnames', value: '0' },
      { key: 'quiet', value: '' },
    ]);
    expect(args.find((a) => a.key === 'banger.ip')).toEqual({ key: 'banger.ip', value: '172.30.0.2/24' });
  });

  it("never lets an image override banger's keys or repeat one", () => {
    const args = guestCmdline({ ...base, imageArgs: ['console=hvc0', 'root=/dev/vdb', 'init=/bin/sh', 'quiet', 'quiet', '=x', ''] });
    expect(args.filter((a) => a.key === 'console')).toEqual([{ key: 'console', value: 'ttyS0' }]);
    expect(args.find((a) => a.key === 'root')?.value).toBe('/dev/vda');
    expect(args.find((a) => a.key === 'init')?.value).toBe('/sbin/banger-init');
    expect(args.filter((a) => a.key === 'quiet')).toHaveLength(1);
    expect(args.some((a) => a.key === '')).toBe(false);
  });
});
