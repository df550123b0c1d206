import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { helperv2, imagev1, vmv1 } from '@banger/api';
import { LOG_FLUSH_MS, OP_ID_PATTERN, RpcError, ServiceClient } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufBinary, createStack, type LogRecord, type Stack } from '../harness/daemons.js';

const exec = promisify(execFile);

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

function completionLines(records: LogRecord[]): LogRecord[] {
  return records.filter((l) => /^(helper )?rpc (completed|failed)$/.test(l.msg));
}

describe('three daemons over Unix sockets, one op id end to end', () => {
  let stack: Stack;
  let vmd: ServiceClient<typeof vmv1.VmServiceService>;

  beforeAll(async () => {
    stack = await createStack();
    await stack.start('privhelper');
    await stack.start('imaged');
    await stack.start('vmd');
    vmd = new ServiceClient(vmv1.VmServiceService, stack.socket('vmd'));
  });

  afterAll(async () => {
    vmd?.close();
    await stack?.close();
  });

  it('each daemon reports its version, and every line it writes is JSON with the common fields', async () => {
    for (const [name, def] of [
      ['vmd', vmv1.VmServiceService],
      ['imaged', imagev1.ImageServiceService],
      ['privhelper', helperv2.HelperServiceService],
    ] as const) {
      const client = new ServiceClient(def as typeof vmv1.VmServiceService, stack.socket(name));
      const res = await client.unary('getServerInfo', {});
      client.close();
      expect(res.info).toMatchObject({ name, apiVersion: '1' });
      expect(res.info?.pid).toBe(stack.daemons[name]?.child.pid);
      const d = stack.daemons[name];
      expect(d?.stray).toEqual([]);
      for (const l of d?.logs ?? []) {
        expect(l.service).toBe(name);
        expect(typeof l.time).toBe('string');
        expect(typeof l.level).toBe('string');
      }
    }
  });

  it('a create shares one op id across vmd, privhelper and imaged, in every completion line', async () => {
    const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'dev' }));
    const events: vmv1.OperationEvent[] = [];
    const err = await (async () => {
      for await (const res of stream) if (res.event) events.push(res.event);
    })().catch((e: unknown) => e);
    const opId = await stream.opId;
    expect(opId).toMatch(OP_ID_PATTERN);

    // The first event carries the dispatch op id.
    expect(events[0]?.body).toMatchObject({ $case: 'accepted', value: { opId } });
    // Preflight ran for real (host probe through privhelper) and then failed on the image:
    // this stack has built none, so imaged answers NOT_FOUND with the same op id.
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).opId).toBe(opId);
    const failure = events.find((e) => e.body?.$case === 'failure');
    expect(failure?.body?.value).toMatchObject({ stage: 'preflight', opId });

    // Log lines travel through the daemons' stdout pipes; give them a moment to arrive.
    // Wait for each daemon's own line rather than a total, so a count cannot be met before
    // privhelper's buffer has flushed (CI run 14).
    const linesOf = (d: 'vmd' | 'privhelper' | 'imaged') => completionLines(stack.daemons[d]?.logs.filter((l) => l.op_id === opId) ?? []);
    await waitFor(() => linesOf('vmd').length >= 1 && linesOf('imaged').length >= 1 && linesOf('privhelper').some((l) => l.method === '/banger.helper.v2.HelperService/ProbeHost'), 20_000);
    const vmdLines = linesOf('vmd');
    const helperLines = linesOf('privhelper');
    const imagedLines = linesOf('imaged');
    expect(vmdLines).toHaveLength(1);
    expect(vmdLines[0]).toMatchObject({ msg: 'rpc failed', method: '/banger.vm.v1.VmService/CreateVm' });
    // The path stage asks privhelper and imaged once, under the create's op id (preflight reuses
    // the answers): every completion line there carries it.
    expect(helperLines).toContainEqual(expect.objectContaining({ msg: 'helper rpc completed', method: '/banger.helper.v2.HelperService/ProbeHost', code: 'OK' }));
    for (const l of helperLines) expect(typeof l.duration_ms).toBe('number');
    expect(imagedLines).toHaveLength(1);
    expect(helperLines.filter((l) => l.method === '/banger.helper.v2.HelperService/ProbeHost')).toHaveLength(1);
    for (const l of imagedLines) expect(l).toMatchObject({ msg: 'rpc failed', method: '/banger.image.v1.ImageService/ResolveImage', code: 'NOT_FOUND' });
  });

  it('rejects a bad name before anything starts, naming the field, with an op id', async () => {
    const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'Not_A_Label' }));
    const events: unknown[] = [];
    const err = (await (async () => {
      for await (const e of stream) events.push(e);
    })().catch((e: unknown) => e)) as RpcError;
    expect(events).toEqual([]);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.reason).toBe('INVALID_NAME');
    expect(err.errorMetadata['field']).toBe('name');
    expect(err.fieldViolations[0]?.field).toBe('name');
    expect(err.message).toMatch(/^name: .* \(op-[a-z2-7]{12}\)$/);
    // Nothing reached privhelper for this op id: once vmd's own line for it is in, give the
    // helper's buffer more than one flush interval before looking.
    await stack.waitForLog((l) => l.service === 'vmd' && l.op_id === err.opId);
    await new Promise((r) => setTimeout(r, 3 * LOG_FLUSH_MS));
    expect(stack.daemons.privhelper?.logs.filter((l) => l.op_id === err.opId)).toEqual([]);
  });

  it('reflection lets buf curl call methods by name on every daemon', async () => {
    for (const [name, svc] of [
      ['vmd', 'banger.vm.v1.VmService'],
      ['imaged', 'banger.image.v1.ImageService'],
      ['privhelper', 'banger.helper.v2.HelperService'],
    ] as const) {
      const { stdout } = await exec(bufBinary(), ['curl', '--protocol', 'grpc', '--unix-socket', stack.socket(name), '--list-services', 'http://localhost']);
      expect(stdout.split('\n')).toContain(svc);
    }
    const res = await exec(bufBinary(), ['curl', '--protocol', 'grpc', '--unix-socket', stack.socket('vmd'), 'http://localhost/banger.vm.v1.VmService/GetServerInfo']);
    expect(JSON.parse(res.stdout)).toMatchObject({ info: { name: 'vmd' } });
    // ListVms resolves by name through reflection (what it answers is the daemon's business).
    const list = await exec(bufBinary(), ['curl', '--protocol', 'grpc', '--unix-socket', stack.socket('vmd'), 'http://localhost/banger.vm.v1.VmService/ListVms']).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    expect(`${list.stdout}${list.stderr}`).not.toMatch(/failed to resolve|not found in/i);
  });

  it('grpc.health.v1 reports every daemon SERVING', async () => {
    for (const name of ['vmd', 'imaged', 'privhelper'] as const) {
      const { stdout } = await exec(bufBinary(), ['curl', '--protocol', 'grpc', '--unix-socket', stack.socket(name), 'http://localhost/grpc.health.v1.Health/Check']);
      expect(JSON.parse(stdout)).toEqual({ status: 'SERVING' });
    }
  });

  it('SIGTERM drains, exits 0 and removes the socket', async () => {
    const socketPath = stack.socket('imaged');
    expect(statSync(socketPath).isSocket()).toBe(true);
    expect(await stack.stop('imaged')).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    const logs = stack.daemons.imaged?.logs.map((l) => l.msg) ?? [];
    expect(logs).toContain('shutdown requested');
    expect(logs).toContain('daemon stopped');
    await stack.start('imaged');
  });
});

describe('privhelper refuses callers outside its uid allow-list', () => {
  let stack: Stack;
  beforeAll(async () => {
    // The test runs as some uid; allow only a different one.
    stack = await createStack({ allowedUids: [(process.getuid?.() ?? 0) + 4242] });
    await stack.start('privhelper');
  });
  afterAll(async () => stack?.close());

  it('answers PERMISSION_DENIED with an op id and logs one helper rpc failed line', async () => {
    const client = new ServiceClient(helperv2.HelperServiceService, stack.socket('privhelper'));
    const err = (await client.unary('probeHost', { deep: false }).catch((e: unknown) => e)) as RpcError;
    client.close();
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.reason).toBe('UID_NOT_ALLOWED');
    expect(err.opId).toMatch(OP_ID_PATTERN);
    await waitFor(() => completionLines(stack.logsFor(err.opId ?? '')).length >= 1);
    const lines = completionLines(stack.logsFor(err.opId ?? ''));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'helper rpc failed', code: 'PERMISSION_DENIED', peer_uid: process.getuid?.() });
  });
});
