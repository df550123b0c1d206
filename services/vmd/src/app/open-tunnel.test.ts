import { Socket } from 'node:net';
import { UnavailableError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import { sampleVm } from '../testing/sample-vm.js';
import { OpenTunnel } from './open-tunnel.js';

function tunnel(refusals: number) {
  let calls = 0;
  const uc = new OpenTunnel({
    vms: { findByRef: async () => sampleVm() },
    connector: {
      connect: async () => {
        if (calls++ < refusals) throw new UnavailableError('GUEST_PORT_REFUSED', 'nothing listens');
        return new Socket();
      },
    },
  });
  return { uc, calls: () => calls };
}

describe('OpenTunnel', () => {
  it('fails at once when nothing listens and no wait was asked for', async () => {
    const t = tunnel(1);
    await expect(t.uc.run({ ref: 'web', port: 22, opId: 'op-x' })).rejects.toMatchObject({ reason: 'GUEST_PORT_REFUSED' });
    expect(t.calls()).toBe(1);
  });

  it('waits out a guest that is still starting its listener', async () => {
    const t = tunnel(2);
    const res = await t.uc.run({ ref: 'web', port: 22, opId: 'op-x', waitForListenerMs: 5000 });
    expect(res.guestAddress).toBe('172.30.0.5:22');
    expect(t.calls()).toBe(3);
    res.socket.destroy();
  });

  it('refuses a bad port or wait by field, and a VM that is not running', async () => {
    await expect(tunnel(0).uc.run({ ref: 'web', port: 0, opId: 'op-x' })).rejects.toMatchObject({ field: 'open.port' });
    await expect(tunnel(0).uc.run({ ref: 'web', port: 22, opId: 'op-x', waitForListenerMs: 200_000 })).rejects.toMatchObject({ field: 'open.wait_for_listener_ms' });
    const stopped = new OpenTunnel({ vms: { findByRef: async () => sampleVm({ state: 'stopped' }) }, connector: { connect: async () => new Socket() } });
    await expect(stopped.run({ ref: 'web', port: 22, opId: 'op-x' })).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
  });
});
