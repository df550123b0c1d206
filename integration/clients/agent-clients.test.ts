import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clientSockets } from '@banger/config';
import { OP_ID_PATTERN } from '@banger/runtime';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';
import { buildDefaultImage, createVmStack, vmUnsupportedReason, type VmStack } from '../vm/vmstack.js';

// The agent-facing clients against one real stack (vmd as the banger user) and ONE Debian
// guest, created through `banger mcp` and shared by the MCP, TypeScript and Python checks.

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/clients skipped: ${skip}`);

const VM = 'agent';
const run = promisify(execFile);

/** Debian's python with python3-grpcio (a pyenv python on PATH does not see it). */
const PYTHON = '/usr/bin/python3';
const PY_CLIENT = join(REPO_ROOT, 'clients', 'python');
async function pythonUnavailable(): Promise<string | undefined> {
  const r = await run(PYTHON, ['-c', 'import grpc, google.protobuf']).catch((e: Error) => e);
  return r instanceof Error ? `${PYTHON} cannot import grpc/protobuf (scripts/install-deps.sh --test installs python3-grpcio)` : undefined;
}

/** A program using the packed @banger/client: the calls an SDK user makes, printed as JSON. */
const CONSUMER = `
import { BangerClient, RpcError } from '@banger/client';
const banger = new BangerClient();
const out = {};
const info = await banger.serverInfo();
out.info = { name: info.name, apiVersion: info.apiVersion };
out.vms = (await banger.listVms()).map((v) => v.name);
const res = await banger.exec(process.argv[2], ['sh', '-c', 'echo "$0"; exit 4', 'from-ts'], { commandTimeoutMs: 60_000 });
out.exec = { stdout: Buffer.from(res.stdout).toString(), exitCode: res.status?.exitCode };
const events = [];
try {
  for await (const e of banger.createVm({ name: 'Bad_Name' })) events.push(e.body?.$case);
} catch (err) {
  if (!(err instanceof RpcError)) throw err;
  out.createError = { code: err.code, codeName: err.codeName, reason: err.reason, opId: err.opId, events };
}
try {
  await banger.getVm('nope');
} catch (err) {
  out.getError = { codeName: err.codeName, reason: err.reason, opId: err.opId, isRpcError: err instanceof RpcError };
}
banger.close();
console.log(JSON.stringify(out));
`;

/** Typed use of the package: compiles only if its declarations carry the real types. */
const TYPED = `
import { BangerClient, RpcError, vmv1, type OperationCall } from '@banger/client';
const banger = new BangerClient({ runDir: '/run/banger' });
const call: OperationCall<vmv1.OperationEvent, vmv1.Vm> = banger.createVm({ name: 'x', memoryMib: 512 });
const vm: vmv1.Vm = await call.result();
const state: vmv1.VmState = vm.state;
const res: vmv1.ExecVmResponse = await banger.exec(vm.name, ['true'], { stdin: 'x', user: 'root' });
const code: number | undefined = res.status?.exitCode;
const e = new RpcError({ code: 5, details: 'x', reason: 'VM_NOT_FOUND' });
const reason: string = e.reason;
const opId: string | undefined = e.opId;
export { state, code, reason, opId };
`;

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
    await buildDefaultImage(s);
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
      expect([...byName.keys()].sort()).toEqual(['create_vm', 'delete_vm', 'exec', 'fork_vm', 'get_vm', 'list_ports', 'list_vms', 'read_file', 'write_file']);
      for (const t of tools) {
        expect(t.inputSchema.type).toBe('object');
        expect(t.description).toBeTruthy();
      }
      expect(byName.get('create_vm')?.inputSchema.required).toEqual(['name']);
      expect(byName.get('create_vm')?.inputSchema.properties).toHaveProperty('memory_mib', expect.objectContaining({ type: 'integer' }));
      expect(byName.get('exec')?.inputSchema.properties).toHaveProperty('command', expect.objectContaining({ type: 'array' }));
      expect(byName.get('write_file')?.inputSchema.required).toEqual(['ref', 'path', 'content']);
      expect(byName.get('fork_vm')?.inputSchema.required).toEqual(['ref']);
      expect(byName.get('fork_vm')?.inputSchema.properties).toHaveProperty('count', expect.objectContaining({ type: 'integer', minimum: 1, maximum: 16 }));
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
      // Over grpc's 4 MiB per message: UploadFiles/DownloadFiles carry it in chunks, byte for byte.
      const big = randomBytes(5 << 20);
      expect(structured(await call('write_file', { ref: VM, path: '/root/mcp-big.bin', content: big.toString('base64'), encoding: 'base64', mode: '0751' }, 300_000))).toEqual({ path: '/root/mcp-big.bin', size: big.length, mode: '0751' });
      const part = big.subarray(0, 3 << 20);
      const prep = 'stat -c "%a %s %u" /root/mcp-big.bin && sha256sum < /root/mcp-big.bin && head -c 3145728 /root/mcp-big.bin > /root/mcp-part.bin && ln -sf mcp-part.bin /root/mcp-link';
      expect(structured(await call('exec', { ref: VM, command: ['sh', '-c', prep] }))).toMatchObject({ stdout: `751 ${big.length} 0\n${createHash('sha256').update(big).digest('hex')}  -\n` });
      // read_file's limit is 3 MiB (the MCP stdio message limit): the first 3 MiB, through a symlink.
      const back = structured<{ content: string }>(await call('read_file', { ref: VM, path: '/root/mcp-link', encoding: 'base64' }, 300_000));
      expect(Buffer.from(back.content, 'base64').equals(part)).toBe(true);
      const missingDir = await call('write_file', { ref: VM, path: '/no/such/dir/f', content: 'x' });
      expect(missingDir.isError).toBe(true);
      expect(missingDir.structuredContent).toMatchObject({ error: { reason: 'GUEST_PATH_NOT_FOUND', opId: expect.stringMatching(OP_ID_PATTERN) as string } });
      const onDir = await call('write_file', { ref: VM, path: '/root', content: 'x' });
      expect(onDir.structuredContent).toMatchObject({ error: { reason: 'GUEST_IS_A_DIRECTORY' } });
      const readDir = await call('read_file', { ref: VM, path: '/etc' });
      expect(readDir.structuredContent).toMatchObject({ error: { reason: 'GUEST_IS_A_DIRECTORY' } });
      const left = structured(await call('exec', { ref: VM, command: ['sh', '-c', 'ls -a / /root | grep -c banger-cp || true'] }));
      expect(left).toMatchObject({ stdout: '0\n' });
      await call('exec', { ref: VM, command: ['rm', '-f', '/root/mcp-big.bin', '/root/mcp-part.bin', '/root/mcp-link'] });
    }, 600_000);

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

  describe('@banger/client from its npm pack tarball', () => {
    let app = '';

    beforeAll(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'banger-client-'));
      // prepack builds dist/ (esbuild bundle + tsc declarations).
      await run('npm', ['pack', '--pack-destination', dir], { cwd: join(REPO_ROOT, 'packages', 'client'), timeout: 180_000 });
      const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
      expect(tarball).toMatch(/^banger-client-\d+\.\d+\.\d+\.tgz$/);
      app = join(dir, 'app');
      await mkdir(app);
      await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball!)], { cwd: app, timeout: 300_000 });
    }, 600_000);

    afterAll(async () => {
      if (app) await rm(join(app, '..'), { recursive: true, force: true });
    });

    it('installs compiled JS and declarations only, with grpc-js and protobuf as its dependencies', async () => {
      const pkg = join(app, 'node_modules', '@banger', 'client');
      expect(existsSync(join(pkg, 'dist', 'index.js'))).toBe(true);
      expect(existsSync(join(pkg, 'dist', 'types', 'packages', 'client', 'src', 'index.d.ts'))).toBe(true);
      expect(existsSync(join(pkg, 'src'))).toBe(false);
      expect(existsSync(join(app, 'node_modules', '@grpc', 'grpc-js'))).toBe(true);
      expect(existsSync(join(app, 'node_modules', '@bufbuild', 'protobuf'))).toBe(true);
      // No workspace package leaks into the install: everything banger's own is inside the tarball.
      expect(existsSync(join(app, 'node_modules', '@banger', 'api'))).toBe(false);
    });

    it('type-checks a strict consumer and the example against the packed declarations, and rejects a misuse', async () => {
      await writeFile(join(app, 'typed.ts'), TYPED);
      await copyFile(join(REPO_ROOT, 'examples', 'ts-client', 'create-exec-delete.mjs'), join(app, 'example.mjs'));
      await writeFile(join(app, 'misuse.ts'), "import { BangerClient } from '@banger/client';\nawait new BangerClient().exec('x', 'not-an-argv');\n");
      const tsconfig = (files: string[]) => ({
        compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, allowJs: true, checkJs: true, skipLibCheck: false, types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')] },
        files,
      });
      const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      await writeFile(join(app, 'tsconfig.json'), JSON.stringify(tsconfig(['typed.ts', 'example.mjs'])));
      const ok = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, timeout: 180_000 }).catch((e: { stdout: string }) => e);
      expect(ok.stdout).toBe('');
      await writeFile(join(app, 'tsconfig.bad.json'), JSON.stringify(tsconfig(['misuse.ts'])));
      const bad = (await run(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], { cwd: app, timeout: 180_000 }).catch((e: unknown) => e)) as { code?: number; stdout?: string };
      expect(bad.code).toBe(2);
      expect(bad.stdout).toMatch(/misuse\.ts.*not assignable to parameter of type 'readonly string\[\]'/);
    }, 240_000);

    it('talks to the real stack: server info, VMs, exec, and errors with code, reason and op id', async () => {
      await writeFile(join(app, 'consumer.mjs'), CONSUMER);
      const { stdout } = await run(process.execPath, ['consumer.mjs', VM], { cwd: app, env: s.stack.env, timeout: 120_000 });
      const out = JSON.parse(stdout) as Record<string, Record<string, unknown> | string[]>;
      expect(out['info']).toEqual({ name: 'vmd', apiVersion: '1' });
      expect(out['vms']).toEqual([VM]);
      expect(out['exec']).toEqual({ stdout: 'from-ts\n', exitCode: 4 });
      expect(out['createError']).toMatchObject({ code: 3, codeName: 'INVALID_ARGUMENT', reason: expect.stringMatching(/^[A-Z_]+$/), opId: expect.stringMatching(OP_ID_PATTERN) });
      expect(out['getError']).toMatchObject({ codeName: 'NOT_FOUND', reason: 'VM_NOT_FOUND', opId: expect.stringMatching(OP_ID_PATTERN), isRpcError: true });
    }, 180_000);
  });

  describe('cleanup', () => {
    it('deletes the VM through banger mcp', async () => {
      expect(structured(await call('delete_vm', { ref: VM, force: true }, 300_000))).toMatchObject({ deleted: { name: VM } });
      expect(structured<{ vms: unknown[] }>(await call('list_vms', {})).vms).toEqual([]);
    }, 300_000);
  });

  describe('clients/python (generated from proto/)', () => {
    it('is what generate.sh makes from proto/ today', async (t) => {
      const why = await pythonUnavailable();
      if (why) t.skip(why);
      await run('bash', [join(PY_CLIENT, 'generate.sh'), '--check'], { timeout: 120_000 });
    }, 120_000);

    it("finds vmd's socket exactly as the CLI and @banger/client do (env, config file, install layout)", async (t) => {
      const why = await pythonUnavailable();
      if (why) t.skip(why);
      const dir = await mkdtemp(join(tmpdir(), 'banger-py-sockets-'));
      try {
        const file = (name: string, text: string): string => {
          writeFileSync(join(dir, name), text);
          return join(dir, name);
        };
        const runDir = file('run-dir.toml', '[paths]\nrun_dir = "/srv/banger/run"\n');
        const cases = [
          { env: { BANGER_VMD_SOCKET: '/x/v.sock', BANGER_CONFIG: runDir }, uid: 1000 },
          { env: { BANGER_RUN_DIR: '/r', BANGER_CONFIG: runDir }, uid: 1000 },
          { env: { BANGER_CONFIG: runDir }, uid: 1000 },
          { env: { BANGER_CONFIG: runDir, BANGER_PATHS_RUN_DIR: '/o' }, uid: 1000 },
          { env: { BANGER_CONFIG: file('socket.toml', '[vmd]\nsocket = "/srv/v.sock"\n') }, uid: 1000 },
          { env: { BANGER_CONFIG: file('plain.toml', '[log]\nlevel = "debug"\n'), XDG_RUNTIME_DIR: '/run/user/1000', HOME: dir }, uid: 1000 },
          { env: { BANGER_CONFIG: file('broken.toml', '[paths\n') }, uid: 0 },
        ];
        const { stdout } = await run(PYTHON, [join(PY_CLIENT, 'tests', 'sockets_check.py'), file('cases.json', JSON.stringify(cases))], { timeout: 30_000 });
        const viaTs = cases.map((c) => (c.env.BANGER_VMD_SOCKET ? c.env.BANGER_VMD_SOCKET : clientSockets(c.env, c.uid).vmd));
        expect(JSON.parse(stdout)).toEqual(viaTs);
        expect(viaTs).toEqual(['/x/v.sock', '/r/vmd.sock', '/srv/banger/run/vmd.sock', '/o/vmd.sock', '/srv/v.sock', '/run/user/1000/banger/vmd.sock', '/run/banger/vmd.sock']);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('creates a VM, runs a command, deletes it, and reads reason and op id from ErrorInfo', async (t) => {
      const why = await pythonUnavailable();
      if (why) t.skip(why);
      const { stdout } = await run(PYTHON, [join(PY_CLIENT, 'tests', 'live_check.py'), 'py-check'], { env: s.stack.env, timeout: 900_000 });
      const out = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
      expect(out['server']).toEqual({ name: 'vmd', api: '1' });
      expect(out['stages']).toEqual(expect.arrayContaining(['boot', 'agent']));
      expect(out['exec']).toEqual({ exit: 5, stdout: 'in:py-out\n' });
      expect(out['invalid']).toMatchObject({ code: 'INVALID_ARGUMENT', reason: expect.stringMatching(/^[A-Z_]+$/) });
      expect(out['invalid']?.['op_id']).toBe(out['invalid']?.['sent']);
      expect(out['missing']).toMatchObject({ code: 'NOT_FOUND', reason: 'VM_NOT_FOUND', op_id: expect.stringMatching(OP_ID_PATTERN) });
      expect(out['deleted']).toBe('py-check');
    }, 900_000);
  });
});
