import { vmv1 } from '@banger/api';
import { RpcError, type CallOptions } from '@banger/runtime';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, describe, expect, it } from 'vitest';
import { tarHeaders, TAR_END, TarParser } from '@banger/runtime/tar';
import { MAX_READ_BYTES, MAX_WRITE_BYTES, oneFileArchive, streamGuestFiles } from './guest-files.js';
import { buildMcpServer } from './server.js';
import { ToolContext } from './tool-context.js';
import type { McpVmd } from './vmd-port.js';

const dev = vmv1.Vm.fromPartial({ id: 'vm-1', name: 'dev', state: vmv1.VmState.VM_STATE_RUNNING, vcpus: 1, memoryMib: 512, createOpId: 'op-create00001', network: { ipv4: '10.0.0.2' } });

/** A vmd that records what it was asked, with a guest file system of one map. */
class FakeVmd implements McpVmd {
  readonly calls: { method: string; opId: string | undefined }[] = [];
  readonly files = new Map<string, Buffer>();
  readonly modes = new Map<string, number>();
  readonly links = new Map<string, string>();
  readonly dirs = new Set<string>(['/tmp']);
  execs: vmv1.ExecVmRequest[] = [];
  uploads: vmv1.UploadTarget[] = [];

  private record(method: string, opts: CallOptions): void {
    this.calls.push({ method, opId: opts.opId });
  }
  listVms(opts: CallOptions): Promise<vmv1.Vm[]> {
    this.record('listVms', opts);
    return Promise.resolve([dev]);
  }
  getVm(ref: string, opts: CallOptions): Promise<vmv1.Vm> {
    this.record('getVm', opts);
    if (ref !== 'dev') return Promise.reject(new RpcError({ code: 5, details: `no VM named ${ref}`, reason: 'VM_NOT_FOUND', opId: opts.opId }));
    return Promise.resolve(dev);
  }
  async *createVm(request: vmv1.CreateVmRequest, opts: CallOptions): AsyncGenerator<vmv1.OperationEvent> {
    this.record('createVm', opts);
    if (!/^[a-z][a-z0-9-]*$/.test(request.name)) throw new RpcError({ code: 3, details: 'name must be a DNS label', reason: 'INVALID_NAME', opId: opts.opId, errorMetadata: { field: 'name' } });
    yield vmv1.OperationEvent.fromPartial({ seq: 1, body: { $case: 'accepted', value: { opId: opts.opId ?? '' } } });
    yield vmv1.OperationEvent.fromPartial({ seq: 2, body: { $case: 'stageStarted', value: { stage: 'boot', description: 'Booting' } } });
    yield vmv1.OperationEvent.fromPartial({ seq: 3, body: { $case: 'stageFinished', value: { stage: 'boot', ok: true, durationMs: 5 } } });
    yield vmv1.OperationEvent.fromPartial({ seq: 4, body: { $case: 'vm', value: { ...dev, name: request.name } } });
  }
  async *forkVm(request: vmv1.ForkVmRequest, opts: CallOptions): AsyncGenerator<vmv1.OperationEvent> {
    this.record('forkVm', opts);
    if (request.count > 16) throw new RpcError({ code: 3, details: 'count: must be between 1 and 16', reason: 'INVALID_COUNT', opId: opts.opId, errorMetadata: { field: 'count' } });
    yield vmv1.OperationEvent.fromPartial({ seq: 1, body: { $case: 'accepted', value: { opId: opts.opId ?? '' } } });
    yield vmv1.OperationEvent.fromPartial({ seq: 2, body: { $case: 'stageFinished', value: { stage: 'dev-1:restore', ok: true, durationMs: 7 } } });
    const clones = Array.from({ length: request.count - 1 }, (_, i) => ({ ...dev, name: `${request.prefix || 'dev'}-${i + 1}` }));
    const failed = [{ name: `${request.prefix || 'dev'}-${request.count}`, stage: 'identity', reason: 'CLONE_IDENTITY_FAILED', message: 'injected' }];
    yield vmv1.OperationEvent.fromPartial({ seq: 3, body: { $case: 'fork', value: { source: request.ref, clones, failed, pauseMs: 9 } } });
  }
  deleteVm(_ref: string, _force: boolean, opts: CallOptions): Promise<vmv1.Vm | undefined> {
    this.record('deleteVm', opts);
    return Promise.resolve(dev);
  }
  getVmPorts(_ref: string, opts: CallOptions): Promise<vmv1.GetVmPortsResponse> {
    this.record('getVmPorts', opts);
    return Promise.resolve(vmv1.GetVmPortsResponse.fromPartial({ ports: [{ port: 22, address: '0.0.0.0', process: 'sshd' }] }));
  }
  execVm(request: vmv1.ExecVmRequest, opts: CallOptions): Promise<vmv1.ExecVmResponse> {
    this.record('execVm', opts);
    this.execs.push(request);
    const argv = request.command?.argv ?? [];
    return Promise.resolve(vmv1.ExecVmResponse.fromPartial({ status: { exitCode: 3 }, stdout: Buffer.from(argv.join(' ')), stderr: Buffer.from(request.command?.stdin ?? new Uint8Array()) }));
  }
  /** Like the guest script: DEST/ must be a directory, a directory at the result is refused. */
  async uploadFiles(target: vmv1.UploadTarget, chunks: readonly Uint8Array[], opts: CallOptions): Promise<vmv1.UploadFilesResponse> {
    this.record('uploadFiles', opts);
    this.uploads.push(target);
    const dir = target.destPath.replace(/\/$/, '') || '/';
    if (!this.dirs.has(dir) && dir !== '/') throw new RpcError({ code: 5, details: `${dir}: no such directory`, reason: 'GUEST_PATH_NOT_FOUND', opId: opts.opId });
    const final = `${dir === '/' ? '' : dir}/${target.name}`;
    if (this.dirs.has(final)) throw new RpcError({ code: 9, details: `${final}: is a directory`, reason: 'GUEST_IS_A_DIRECTORY', opId: opts.opId });
    const parts: Buffer[] = [];
    let mode = 0;
    const parser = new TarParser({ entry: (e) => void (mode = e.mode), data: (c) => void parts.push(Buffer.from(c)) });
    for (const c of chunks) await parser.push(Buffer.from(c));
    parser.finish();
    this.files.set(final, Buffer.concat(parts));
    this.modes.set(final, mode);
    return vmv1.UploadFilesResponse.fromPartial({ vmId: dev.id, guestPath: final, entries: parser.entries });
  }
  async *downloadFiles(request: vmv1.DownloadFilesRequest, opts: CallOptions): AsyncGenerator<vmv1.DownloadFilesResponse> {
    this.record('downloadFiles', opts);
    const p = request.sourcePath;
    const name = p.slice(p.lastIndexOf('/') + 1);
    const data = this.files.get(p);
    const link = this.links.get(p);
    let archive: Buffer;
    if (data) archive = oneFileArchive(name, data, this.modes.get(p) ?? 0o644);
    else if (link !== undefined) archive = Buffer.concat([tarHeaders({ name, type: '2', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: link }), TAR_END]);
    else if (this.dirs.has(p)) archive = Buffer.concat([tarHeaders({ name, type: '5', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '' }), TAR_END]);
    else throw new RpcError({ code: 5, details: `${p}: no such file or directory`, reason: 'GUEST_PATH_NOT_FOUND', opId: opts.opId });
    yield vmv1.DownloadFilesResponse.fromPartial({ msg: { $case: 'started', value: { vmId: dev.id, name } } });
    // Cut at odd places, as the guest's TCP stream is.
    for (let i = 0; i < archive.length; i += 700) yield vmv1.DownloadFilesResponse.fromPartial({ msg: { $case: 'data', value: archive.subarray(i, i + 700) } });
    yield vmv1.DownloadFilesResponse.fromPartial({ msg: { $case: 'done', value: { bytes: archive.length } } });
  }
}

let client: Client | undefined;
afterEach(async () => client?.close());

async function connect(vmd: FakeVmd): Promise<Client> {
  const [a, b] = InMemoryTransport.createLinkedPair();
  await buildMcpServer(new ToolContext(vmd, streamGuestFiles(vmd))).connect(a);
  client = new Client({ name: 'test', version: '0' });
  await client.connect(b);
  return client;
}

describe('banger MCP tools over a fake vmd', () => {
  it('lists every tool with an object input schema', async () => {
    const c = await connect(new FakeVmd());
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['create_vm', 'delete_vm', 'exec', 'fork_vm', 'get_vm', 'list_ports', 'list_vms', 'read_file', 'write_file']);
    for (const t of tools) expect(t.inputSchema.type).toBe('object');
    expect(tools.find((t) => t.name === 'exec')?.inputSchema.required).toEqual(['ref', 'command']);
    const fork = tools.find((t) => t.name === 'fork_vm')?.inputSchema;
    expect(fork?.required).toEqual(['ref']);
    expect(fork?.properties).toHaveProperty('count', expect.objectContaining({ type: 'integer', minimum: 1, maximum: 16 }));
  });

  it('streams create stages as progress notifications when the client asked, and returns the VM', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const progress: string[] = [];
    const res = await c.callTool({ name: 'create_vm', arguments: { name: 'box' } }, undefined, { onprogress: (p) => progress.push(p.message ?? '') });
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toMatchObject({ vm: { name: 'box', state: 'running' }, createOpId: 'op-create00001' });
    expect(progress).toEqual([expect.stringMatching(/^accepted op-/), 'boot: Booting', 'boot: done in 5 ms']);
  });

  it('fork_vm streams per-clone stages as progress and returns the clones that run and the ones rolled back', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const progress: string[] = [];
    const res = await c.callTool({ name: 'fork_vm', arguments: { ref: 'dev', count: 3, prefix: 'w' } }, undefined, { onprogress: (p) => progress.push(p.message ?? '') });
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toMatchObject({ source: 'dev', clones: [{ name: 'w-1' }, { name: 'w-2' }], failed: [{ name: 'w-3', reason: 'CLONE_IDENTITY_FAILED' }], pauseMs: 9, opId: vmd.calls.at(-1)?.opId });
    expect(progress).toEqual([expect.stringMatching(/^accepted op-/), 'dev-1:restore: done in 7 ms']);
    const refused = await c.callTool({ name: 'fork_vm', arguments: { ref: 'dev', count: 17 } });
    expect(refused.isError).toBe(true);
    const tooBig = await c.callTool({ name: 'fork_vm', arguments: { ref: 'dev', count: 0 } });
    expect(tooBig.isError).toBe(true);
  });

  it('returns a daemon refusal as a tool error with code, reason, field and the op id it sent', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const res = await c.callTool({ name: 'create_vm', arguments: { name: 'Bad_Name' } });
    expect(res.isError).toBe(true);
    const opId = vmd.calls.at(-1)?.opId;
    expect(opId).toMatch(/^op-/);
    expect(res.structuredContent).toEqual({ error: { code: 'INVALID_ARGUMENT', reason: 'INVALID_NAME', field: 'name', message: `name must be a DNS label (${opId})`, opId } });
    expect((res.content as { text: string }[])[0]?.text).toContain(opId);
  });

  it('gives every call its own op id', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    await c.callTool({ name: 'list_vms', arguments: {} });
    await c.callTool({ name: 'list_vms', arguments: {} });
    const [a, b] = vmd.calls.map((x) => x.opId);
    expect(a).toMatch(/^op-/);
    expect(a).not.toBe(b);
  });

  it('answers exec with the streams and exit status, a non-zero exit not being a tool error', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const res = await c.callTool({ name: 'exec', arguments: { ref: 'dev', command: ['false', 'x'], stdin: 'in', timeout_seconds: 2 } });
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toMatchObject({ exitCode: 3, signal: null, timedOut: false, stdout: 'false x', stderr: 'in' });
    expect(vmd.execs[0]?.command?.timeout).toEqual({ seconds: 2, nanos: 0 });
  });

  it('writes and reads back a file through UploadFiles/DownloadFiles, in text and in base64, with its mode', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    expect((await c.callTool({ name: 'write_file', arguments: { ref: 'dev', path: '/tmp/a', content: 'héllo\n', mode: '0600' } })).structuredContent).toEqual({ path: '/tmp/a', size: 7, mode: '0600' });
    // Into the parent as a directory, so an existing directory at the path is refused rather than written into.
    expect(vmd.uploads[0]).toMatchObject({ ref: 'dev', destPath: '/tmp/', name: 'a' });
    expect(vmd.modes.get('/tmp/a')).toBe(0o600);
    expect((await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp/a' } })).structuredContent).toMatchObject({ content: 'héllo\n', size: 7 });
    await c.callTool({ name: 'write_file', arguments: { ref: 'dev', path: '/tmp/b', content: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' } });
    expect(vmd.files.get('/tmp/b')).toEqual(Buffer.from([0, 255]));
    expect((await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp/b', encoding: 'base64' } })).structuredContent).toMatchObject({ content: 'AP8=' });
    expect(vmd.execs).toEqual([]);
  });

  it('moves a binary file larger than one gRPC message intact, and follows symlinks on read', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const big = Buffer.alloc(5 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
    const w = await c.callTool({ name: 'write_file', arguments: { ref: 'dev', path: '/big.bin', content: big.toString('base64'), encoding: 'base64', mode: '755' } });
    expect(w.structuredContent).toEqual({ path: '/big.bin', size: big.length, mode: '0755' });
    expect(vmd.uploads[0]).toMatchObject({ destPath: '/', name: 'big.bin' });
    expect(vmd.files.get('/big.bin')?.equals(big)).toBe(true);
    const part = big.subarray(0, MAX_READ_BYTES);
    vmd.files.set('/part.bin', part);
    vmd.links.set('/tmp/link', '../part.bin');
    const r = await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp/link', encoding: 'base64' } });
    expect(Buffer.from((r.structuredContent as { content: string }).content, 'base64').equals(part)).toBe(true);
  });

  it('refuses a directory, a loop of symlinks and a file over the limit on read, and content over the limit on write', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    expect((await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp' } })).structuredContent).toMatchObject({ error: { reason: 'GUEST_IS_A_DIRECTORY', field: 'path' } });
    vmd.links.set('/tmp/loop', '/tmp/loop');
    expect((await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp/loop' } })).structuredContent).toMatchObject({ error: { reason: 'TOO_MANY_LINKS' } });
    vmd.files.set('/tmp/huge', Buffer.alloc(MAX_READ_BYTES + 1));
    expect((await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/tmp/huge' } })).structuredContent).toMatchObject({ error: { reason: 'FILE_TOO_LARGE', message: expect.stringContaining(`at most ${MAX_READ_BYTES}`) as string } });
    const tooBig = await c.callTool({ name: 'write_file', arguments: { ref: 'dev', path: '/tmp/x', content: Buffer.alloc(MAX_WRITE_BYTES + 1).toString('base64'), encoding: 'base64' } });
    expect(tooBig.structuredContent).toMatchObject({ error: { reason: 'FILE_TOO_LARGE', field: 'content' } });
    const onDir = await c.callTool({ name: 'write_file', arguments: { ref: 'dev', path: '/tmp', content: 'x' } });
    expect(onDir.structuredContent).toMatchObject({ error: { reason: 'GUEST_IS_A_DIRECTORY' } });
    expect(vmd.uploads.map((u) => u.name)).toEqual(['tmp']);
  });

  it('refuses a relative path, a bad mode and bad base64 before reaching the guest', async () => {
    const vmd = new FakeVmd();
    const c = await connect(vmd);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ref: 'dev', path: 'rel', content: 'x' }, 'INVALID_PATH', 'path'],
      [{ ref: 'dev', path: '/a', content: 'x', mode: '9' }, 'INVALID_MODE', 'mode'],
      [{ ref: 'dev', path: '/a', content: '%%', encoding: 'base64' }, 'INVALID_ARGUMENT', 'content'],
    ];
    for (const [args, reason, field] of cases) {
      const res = await c.callTool({ name: 'write_file', arguments: args });
      expect(res.structuredContent).toMatchObject({ error: { reason, field } });
    }
    expect(vmd.uploads).toEqual([]);
  });

  it('passes on the guest failure with its reason and op id when a file cannot be read', async () => {
    const c = await connect(new FakeVmd());
    const res = await c.callTool({ name: 'read_file', arguments: { ref: 'dev', path: '/missing' } });
    expect(res.structuredContent).toMatchObject({ error: { reason: 'GUEST_PATH_NOT_FOUND', message: expect.stringContaining('/missing: no such file') as string, opId: expect.stringMatching(/^op-/) as string } });
  });
});
