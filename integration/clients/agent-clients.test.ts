import { join } from 'node:path';
import { imagev1 } from '@banger/api';
import { OP_ID_PATTERN } from '@banger/runtime';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';
import { collect, createVmStack, vmUnsupportedReason, type VmStack } from '../vm/vmstack.js';

// The agent-facing clients against one real stack (vmd as the banger user) and ONE Debian
// guest, created through `banger mcp` and shared by the MCP, TypeScript and Python checks.

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/clients skipped: ${skip}`);

const VM = 'agent';

describe.skipIf(skip !== undefined)('clients for agents against a real stack', () => {
  let s: VmStack;
  let mcp: Client;
  let mcpStderr = '';

  async function call(name: string, args: Record<string, unknown>, timeout = 180_000): Promise<CallToolResult> {
    return (await mcp.callTool({ name, arguments: args }, undefined, { timeout })) as CallToolResult;
  }

  function structured<T = Record<string, unknown>>(res: CallToolResult): T {
    if (res.isError) throw new Error(`tool error: ${JSON.stringify(res.content)}`);
    return res.structuredContent as T;
  }

  beforeAll(async () => {
    s = await createVmStack();
    const build = s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
    const { error } = await collect(build);
    if (error instanceof Error) throw error;
    expect(error).toBeUndefined();
    // The real `banger mcp` as an MCP client starts it: a child process speaking on stdio.
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), 'mcp'],
      env: s.stack.env as Record<string, string>,
      cwd: REPO_ROOT,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (c: Buffer) => (mcpStderr += c.toString()));
    mcp = new Client({ name: 'banger-integration', version: '0' });
    await mcp.connect(transport);
  }, 1_900_000);

  afterAll(async () => {
    await mcp?.close();
    if (mcpStderr) console.warn(`banger mcp stderr:\n${mcpStderr}`);
    await s?.close();
  });

  describe('banger mcp', () => {
    it('lists its tools, each with an object input schema naming its required fields', async () => {
      const { tools } = await mcp.listTools();
      const byName = new Map(tools.map((t) => [t.name, t]));
      expect([...byName.keys()].sort()).toEqual(['create_vm', 'delete_vm', 'exec', 'get_vm', 'list_ports', 'list_vms', 'read_file', 'write_file']);
      for (const t of tools) {
        expect(t.inputSchema.type).toBe('object');
        expect(t.description).toBeTruthy();
      }
      expect(byName.get('create_vm')?.inputSchema.required).toEqual(['name']);
      expect(byName.get('create_vm')?.inputSchema.properties).toHaveProperty('memory_mib', expect.objectContaining({ type: 'integer' }));
      expect(byName.get('exec')?.inputSchema.properties).toHaveProperty('command', expect.objectContaining({ type: 'array' }));
      expect(byName.get('write_file')?.inputSchema.required).toEqual(['ref', 'path', 'content']);
    });

    it('refuses a bad VM name with a tool error carrying the reason and the op id', async () => {
      const res = await call('create_vm', { name: 'Not_A_Label' });
      expect(res.isError).toBe(true);
      const err = (res.structuredContent as { error: { code: string; reason: string; opId: string; field?: string } }).error;
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.reason).toMatch(/^[A-Z_]+$/);
      expect(err.opId).toMatch(OP_ID_PATTERN);
      expect((res.content as { text: string }[])[0]?.text).toContain(err.opId);
      expect(structured<{ vms: unknown[] }>(await call('list_vms', {})).vms).toEqual([]);
    });

    it('creates a Debian VM, reporting each stage as a progress notification', async () => {
      const progress: string[] = [];
      const res = await mcp.callTool({ name: 'create_vm', arguments: { name: VM, memory_mib: 512, wait: false } }, undefined, {
        timeout: 900_000,
        onprogress: (p) => progress.push(p.message ?? ''),
      });
      const body = structured<{ vm: { name: string; state: string; ipv4: string }; createOpId: string }>(res as CallToolResult);
      expect(body.vm).toMatchObject({ name: VM, state: 'running' });
      expect(body.createOpId).toMatch(OP_ID_PATTERN);
      expect(progress[0]).toBe(`accepted ${body.createOpId}`);
      expect(progress.some((p) => p.startsWith('boot: '))).toBe(true);
      // wait: false ends the create once the guest agent answers (opencode is not needed here,
      // and under a loaded TCG host its start alone can take minutes).
      expect(progress.some((p) => /^agent: done in \d+ ms/.test(p))).toBe(true);
      const listed = structured<{ vms: { name: string; state: string }[] }>(await call('list_vms', {}));
      expect(listed.vms).toEqual([expect.objectContaining({ name: VM, state: 'running' })]);
      const shown = structured<{ vm: { name: string; network: { ipv4: string } } }>(await call('get_vm', { ref: VM }));
      expect(shown.vm.network.ipv4).toBe(body.vm.ipv4);
    }, 900_000);

    it('runs a command: stdout, stderr, stdin and the exit status', async () => {
      const res = structured(await call('exec', { ref: VM, command: ['sh', '-c', 'cat; echo out; echo err >&2; exit 7'], stdin: 'in:' }));
      expect(res).toMatchObject({ exitCode: 7, signal: null, timedOut: false, stdout: 'in:out\n', stderr: 'err\n' });
      const timed = structured(await call('exec', { ref: VM, command: ['sleep', '30'], timeout_seconds: 1 }));
      expect(timed).toMatchObject({ timedOut: true, exitCode: null });
    }, 240_000);

    it('writes a file with its mode and reads it back, text and binary', async () => {
      const text = 'hello from mcp\nline two\n';
      expect(structured(await call('write_file', { ref: VM, path: '/root/mcp.txt', content: text, mode: '0600' }))).toEqual({ path: '/root/mcp.txt', size: text.length, mode: '0600' });
      const stat = structured(await call('exec', { ref: VM, command: ['stat', '-c', '%a %s', '/root/mcp.txt'] }));
      expect(stat).toMatchObject({ exitCode: 0, stdout: `600 ${text.length}\n` });
      expect(structured(await call('read_file', { ref: VM, path: '/root/mcp.txt' }))).toMatchObject({ content: text, size: text.length });
      const bin = Buffer.from([0, 1, 2, 255, 254, 10]);
      await call('write_file', { ref: VM, path: '/root/mcp.bin', content: bin.toString('base64'), encoding: 'base64' });
      expect(structured(await call('read_file', { ref: VM, path: '/root/mcp.bin', encoding: 'base64' }))).toMatchObject({ content: bin.toString('base64'), size: 6 });
      const missingDir = await call('write_file', { ref: VM, path: '/no/such/dir/f', content: 'x' });
      expect(missingDir.isError).toBe(true);
      expect(missingDir.structuredContent).toMatchObject({ error: { reason: 'GUEST_WRITE_FAILED' } });
      const left = structured(await call('exec', { ref: VM, command: ['sh', '-c', 'ls -a /root | grep -c banger-write || true'] }));
      expect(left).toMatchObject({ stdout: '0\n' });
    }, 240_000);

    it('lists the guest listening ports (sshd on 22)', async () => {
      const res = structured<{ ports?: { port: number; protocol: string }[] }>(await call('list_ports', { ref: VM }));
      expect(res.ports?.some((p) => p.port === 22)).toBe(true);
    }, 120_000);

    it('answers an unknown VM with a NOT_FOUND tool error and its op id', async () => {
      const res = await call('exec', { ref: 'nope', command: ['true'] });
      expect(res.isError).toBe(true);
      expect(res.structuredContent).toMatchObject({ error: { code: 'NOT_FOUND', opId: expect.stringMatching(OP_ID_PATTERN) } });
    });
  });

  describe('cleanup', () => {
    it('deletes the VM through banger mcp', async () => {
      expect(structured(await call('delete_vm', { ref: VM, force: true }, 300_000))).toMatchObject({ deleted: { name: VM } });
      expect(structured<{ vms: unknown[] }>(await call('list_vms', {})).vms).toEqual([]);
    }, 300_000);
  });
});
