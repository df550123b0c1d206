import { describe, expect, it } from 'vitest';
import { guestKernelCmdline } from './cmdline.js';
import { serviceRunner } from './rootfs/guest-files.js';

describe('guestKernelCmdline', () => {
  it('emits banger keys with the ssh key base64-encoded', () => {
    const line = guestKernelCmdline({
      init: '/sbin/banger-init', ip: '10.0.0.2/24', gateway: '10.0.0.1', dns: ['10.0.0.1', '1.1.1.1'], hostname: 'dev-1',
      sshAuthorizedKeys: 'ssh-ed25519 AAAA user@host', extra: ['tsc_early_khz=2596000'],
    });
    expect(line).toContain('init=/sbin/banger-init');
    expect(line).toContain('banger.ip=10.0.0.2/24 banger.gw=10.0.0.1 banger.dns=10.0.0.1,1.1.1.1 banger.hostname=dev-1');
    const key = /banger\.ssh_key=(\S+)/.exec(line)?.[1] ?? '';
    expect(Buffer.from(key, 'base64').toString()).toBe('ssh-ed25519 AAAA user@host');
    expect(line).not.toMatch(/\s{2}/);
  });

  it.each([
    { init: '/sbin/init x' },
    { init: '/sbin/init', hostname: 'Bad_Name' },
    { init: '/sbin/init', ip: '10.0.0.2' },
    { init: '/sbin/init', extra: ['a b'] },
    { init: '/sbin/init', secrets: { opencode: 'p w' } },
  ])('rejects unsafe values %#', (c) => {
    expect(() => guestKernelCmdline(c)).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT' }));
  });
});

describe('serviceRunner', () => {
  it('quotes every argument and exports the secret env', () => {
    const s = serviceRunner({
      name: 'svc', command: ['/bin/x', "it's", '$HOME'], secretEnv: 'SVC_PASSWORD', workdir: '/work',
      readiness: { kind: 'tcp', port: 1, timeoutSeconds: 1 },
    });
    expect(s).toContain(`exec '/bin/x' 'it'\\''s' '$HOME'`);
    expect(s).toContain('export SVC_PASSWORD="$(banger_secret svc)"');
  });
});
