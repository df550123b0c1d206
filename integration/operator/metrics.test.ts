import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { vmv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';

describe('daemon metrics', () => {
  let stack: Stack;
  let client: ServiceClient<typeof vmv1.VmServiceService>;
  beforeAll(async () => {
    stack = await createStack();
    await stack.start('vmd', { env: { BANGER_METRICS_ADDR_VMD: '127.0.0.1:0' } });
    client = new ServiceClient(vmv1.VmServiceService, stack.socket('vmd'));
  });
  afterAll(async () => {
    client?.close();
    await stack?.close();
  });

  it('vmd writes its textfile at start and serves RPC counts and VMs per state on loopback', async () => {
    const file = join(stack.dir, 'run', 'metrics', 'vmd.prom');
    expect(await readFile(file, 'utf8')).toContain('# TYPE banger_rpc_total counter');

    await client.unary('getServerInfo', {});
    await client.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
    await client.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: 'nope' })).catch(() => undefined);

    const line = stack.daemons.vmd?.logs.find((l) => l.msg === 'metrics endpoint listening');
    const addr = typeof line?.['metrics_addr'] === 'string' ? line['metrics_addr'] : '';
    expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`http://${addr}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('banger_rpc_total{service="vmd",method="/banger.vm.v1.VmService/ListVms",code="OK"} 1\n');
    expect(text).toContain('banger_rpc_total{service="vmd",method="/banger.vm.v1.VmService/GetVm",code="NOT_FOUND"} 1\n');
    expect(text).toMatch(/banger_rpc_duration_seconds_count\{service="vmd",method="\/banger\.vm\.v1\.VmService\/GetServerInfo"\} 1\n/);
    expect(text).toContain('banger_vms{state="running"} 0\n');
    expect((await fetch(`http://${addr}/other`)).status).toBe(404);

    // The final flush on SIGTERM leaves the last counts in the textfile.
    expect(await stack.stop('vmd')).toBe(0);
    const final = await readFile(file, 'utf8');
    expect(final).toContain('banger_rpc_total{service="vmd",method="/banger.vm.v1.VmService/ListVms",code="OK"} 1\n');
    expect(final).toContain('banger_vms{state="creating"} 0\n');
  });
});
