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

  it('vmd writes its textfile at start and serves prom-client metrics on loopback: runtime, build info, RPCs, failures by reason, VMs per state', async () => {
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
    expect(res.headers.get('content-type')).toContain('version=0.0.4');
    expect(text).toContain('banger_rpc_total{method="/banger.vm.v1.VmService/ListVms",code="OK",daemon="vmd"} 1\n');
    expect(text).toContain('banger_rpc_total{method="/banger.vm.v1.VmService/GetVm",code="NOT_FOUND",daemon="vmd"} 1\n');
    expect(text).toMatch(/^banger_rpc_failures_total\{method="\/banger\.vm\.v1\.VmService\/GetVm",code="NOT_FOUND",reason="[A-Z_]*NOT_FOUND",daemon="vmd"\} 1$/m);
    expect(text).toMatch(/banger_rpc_duration_seconds_count\{daemon="vmd",method="\/banger\.vm\.v1\.VmService\/GetServerInfo"\} 1\n/);
    expect(text).toContain('banger_vms{state="running",daemon="vmd"} 0\n');
    // The daemons run the bundles the global setup built from this checkout.
    expect(text).toMatch(/^banger_build_info\{version="[^"]+",commit="[0-9a-f]{12}(-dirty)?",daemon="vmd"\} 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes\{daemon="vmd"\} [1-9]\d*$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{daemon="vmd"\} /m);
    // `service` and `job` are the Prometheus target's labels (deploy/observability/prometheus.yaml).
    expect(text).not.toMatch(/[{,](service|job|instance)="/);
    expect((await fetch(`http://${addr}/other`)).status).toBe(404);

    // The final flush on SIGTERM leaves the last counts in the textfile.
    expect(await stack.stop('vmd')).toBe(0);
    const final = await readFile(file, 'utf8');
    expect(final).toContain('banger_rpc_total{method="/banger.vm.v1.VmService/ListVms",code="OK",daemon="vmd"} 1\n');
    expect(final).toContain('banger_vms{state="creating",daemon="vmd"} 0\n');
  });
});
