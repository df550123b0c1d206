import { describe, expect, it } from 'vitest';
import { dnsResult, spaceResult } from './host-checks.js';

const GIB = 1024 ** 3;
const noSystemd = { pid1: 'tini', systemd: false, resolved: false, routed: false };

describe('doctor host checks', () => {
  it('says plainly when neither systemd nor resolved runs, and what would be configured', () => {
    const r = dnsResult(noSystemd, 'bgr-br0', '172.30.0.0/24', null);
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('systemd is not PID 1 here (PID 1 is tini) and systemd-resolved is not running');
    expect(r.detail).toContain('dig @172.30.0.1 NAME.vm');
    expect(r.detail).toContain("'banger system dns' would configure: /usr/bin/resolvectl dns bgr-br0 172.30.0.1; /usr/bin/resolvectl domain bgr-br0 ~vm");
  });

  it('asks for resolved under systemd, for banger system dns when ~vm is not routed, and passes when it is', () => {
    expect(dnsResult({ ...noSystemd, pid1: 'systemd', systemd: true }, 'bgr-br0', '172.30.0.0/24', null).fix).toBe('sudo systemctl enable --now systemd-resolved, then sudo banger system dns');
    expect(dnsResult({ pid1: 'systemd', systemd: true, resolved: true, routed: false }, 'bgr-br0', '172.30.0.0/24', null)).toMatchObject({ status: 'warn', fix: 'sudo banger system dns' });
    expect(dnsResult({ pid1: 'systemd', systemd: true, resolved: true, routed: true }, 'bgr-br0', '172.30.0.0/24', null)).toMatchObject({
      status: 'pass',
      detail: 'systemd-resolved routes ~vm to 172.30.0.1 on bgr-br0',
    });
  });

  it('explains that a VM namespace keeps .vm inside it', () => {
    const r = dnsResult({ pid1: 'systemd', systemd: true, resolved: true, routed: false }, 'bgr-br0', '172.30.0.0/24', 'banger');
    expect(r.status).toBe('pass');
    expect(r.detail).toContain('ip netns exec banger dig @172.30.0.1 NAME.vm');
  });

  it('grades free space against the thresholds', () => {
    expect(spaceResult('state dir space', '/var/lib/banger', 50 * GIB)).toMatchObject({ status: 'pass', detail: '50.0 GiB free under /var/lib/banger' });
    expect(spaceResult('state dir space', '/var/lib/banger', 5 * GIB)).toMatchObject({ status: 'warn', fix: 'banger vm prune; banger image prune' });
    expect(spaceResult('state dir space', '/var/lib/banger', GIB)).toMatchObject({ status: 'fail' });
  });
});
