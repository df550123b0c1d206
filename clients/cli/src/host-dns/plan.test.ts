import { describe, expect, it } from 'vitest';
import { dnsPlan, escapePath, gatewayOf } from './plan.js';

describe('the .vm resolution plan', () => {
  it('escapes device paths as systemd-escape --path does', () => {
    expect(escapePath('/sys/subsystem/net/devices/bgr-br0')).toBe('sys-subsystem-net-devices-bgr\\x2dbr0');
    expect(escapePath('/sys/subsystem/net/devices/br_0.5')).toBe('sys-subsystem-net-devices-br_0.5');
  });

  it('puts banger DNS on the gateway of the configured network', () => {
    expect(gatewayOf('172.30.0.0/24')).toBe('172.30.0.1');
    expect(gatewayOf('10.20.5.77/16')).toBe('10.20.0.1');
    expect(gatewayOf('192.168.255.0/30')).toBe('192.168.255.1');
    expect(() => gatewayOf('172.30.0.0')).toThrow(/network.cidr/);
  });

  it('configures per-link DNS and the ~vm routing domain, in a unit bound to the bridge', () => {
    const plan = dnsPlan('bgr-br0', '172.30.0.0/24');
    expect(plan.commands).toEqual([
      ['/usr/bin/resolvectl', 'dns', 'bgr-br0', '172.30.0.1'],
      ['/usr/bin/resolvectl', 'domain', 'bgr-br0', '~vm'],
      ['/usr/bin/resolvectl', 'default-route', 'bgr-br0', 'false'],
    ]);
    expect(plan.unit).toContain('BindsTo=sys-subsystem-net-devices-bgr\\x2dbr0.device\n');
    expect(plan.unit).toContain('WantedBy=sys-subsystem-net-devices-bgr\\x2dbr0.device\n');
    expect(plan.unit).toContain('Requires=systemd-resolved.service\n');
    expect(plan.unit).toContain('ExecStart=/usr/bin/resolvectl dns bgr-br0 172.30.0.1\nExecStart=/usr/bin/resolvectl domain bgr-br0 ~vm\nExecStart=/usr/bin/resolvectl default-route bgr-br0 false\n');
    expect(plan.unit).toContain('ExecStop=/usr/bin/resolvectl revert bgr-br0\n');
    expect(plan.unit).toMatch(/Type=oneshot\nRemainAfterExit=yes\n/);
  });
});
