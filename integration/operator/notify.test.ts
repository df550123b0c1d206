import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { vmv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';
import { listenNotify, type NotifyListener } from '../harness/notify-socket.js';

/** What systemd sees from a Type=notify unit, with the test in systemd's place. */
describe('sd_notify readiness', () => {
  let stack: Stack;
  let helperNotify: NotifyListener;
  let vmdNotify: NotifyListener;
  beforeAll(async () => {
    stack = await createStack();
    helperNotify = await listenNotify(join(stack.dir, 'notify.sock'));
    vmdNotify = await listenNotify(`@banger-test-notify-${process.pid}`);
  });
  afterAll(async () => {
    await stack?.close();
    helperNotify?.close();
    vmdNotify?.close();
  });

  it('privhelper (root, a socket path) sends READY=1 once its socket serves', async () => {
    await stack.start('privhelper', { env: { NOTIFY_SOCKET: helperNotify.address } });
    const ready = await helperNotify.waitFor((m) => m.includes('READY=1'));
    expect(ready).toBe(`READY=1\nSTATUS=serving on ${stack.socket('privhelper')}`);
    expect(existsSync(stack.socket('privhelper'))).toBe(true);
  });

  it('vmd (the banger user, an abstract name) is ready when it answers, then reports reconciliation in STATUS', async () => {
    await stack.start('vmd', { env: { NOTIFY_SOCKET: vmdNotify.address } });
    await vmdNotify.waitFor((m) => m.startsWith('READY=1\n'));
    const client = new ServiceClient(vmv1.VmServiceService, stack.socket('vmd'));
    try {
      expect((await client.unary('getServerInfo', {})).info?.name).toBe('vmd');
    } finally {
      client.close();
    }
    const status = await vmdNotify.waitFor((m) => m.startsWith('STATUS=') && m.includes('reconcil'));
    expect(status).toBe(`STATUS=serving on ${stack.socket('vmd')}; reconciled with privhelper`);
    expect(stack.daemons.vmd?.logs.some((l) => l.msg === 'reconciliation failed; retrying')).toBe(false);
  });

  it('both send STOPPING=1 when they drain, and nothing after READY says otherwise', async () => {
    expect(await stack.stop('vmd')).toBe(0);
    expect(await vmdNotify.waitFor((m) => m.startsWith('STOPPING=1'))).toMatch(/^STOPPING=1\nSTATUS=draining/);
    expect(await stack.stop('privhelper')).toBe(0);
    await helperNotify.waitFor((m) => m.startsWith('STOPPING=1'));
    expect(helperNotify.messages).toHaveLength(2);
    expect(vmdNotify.messages.map((m) => m.split('\n')[0])).toEqual(['READY=1', expect.stringMatching(/^STATUS=/), 'STOPPING=1']);
  });
});
