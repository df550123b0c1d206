import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { commonv1, descriptorSetPath, helperv2, vmv1 } from '@banger/api';
import {
  BangerError,
  BangerServer,
  NotFoundError,
  ServiceClient,
  createLogger,
  implementService,
  serverStream,
  setRootLogger,
  unary,
  OP_ID_PATTERN,
} from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './cli.js';
import { Capture, captureIo } from './test-support.js';

const VM = vmv1.Vm.fromPartial({
  id: 'k3x9q2aa',
  name: 'dev',
  state: vmv1.VmState.VM_STATE_RUNNING,
  image: { id: 'img1', name: 'debian-bookworm', fingerprint: 'f00d' },
  network: { ipv4: '10.20.0.2', prefixLength: 24, dnsName: 'dev.vm' },
  ssh: { user: 'root', host: 'dev.vm', port: 22, command: ['ssh', '-i', '/home/u/.ssh/banger', 'root@dev.vm'] },
  services: [{ name: 'opencode', port: 4096, ready: true, url: 'http://dev.vm:4096' }],
  createdAt: new Date(Date.now() - 3 * 3600_000),
  startedAt: new Date(Date.now() - 5 * 60_000),
});
const STOPPED = vmv1.Vm.fromPartial({ id: 'z7', name: 'old-box', state: vmv1.VmState.VM_STATE_STOPPED, createdAt: new Date(Date.now() - 9 * 86_400_000) });

const DONE_OP = 'op-aaaaaaaaaaaa';
type Send = (m: vmv1.CreateVmResponse) => Promise<void>;
const event = (opId: string, seq: number, body: vmv1.OperationEvent['body']) => ({ event: { opId, seq, time: new Date(), body } });

describe('banger CLI against a real gRPC server on a Unix socket', () => {
  let dir: string;
  let socket: string;
  let server: BangerServer;
  const createOpIds: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-cli-'));
    socket = join(dir, 'vmd.sock');
    const logger = createLogger({ service: 'vmd', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    setRootLogger(logger);
    server = new BangerServer({ logger, serviceNames: ['banger.vm.v1.VmService'], descriptorSetPath });
    const impl = implementService(vmv1.VmServiceService, 'banger.vm.v1.VmService', {
      getServerInfo: unary(async () => ({ info: { name: 'vmd', version: '0.1.0', apiVersion: '1', startedAt: new Date(Date.now() - 90_000), pid: 4242 } })),
      getVm: unary(async (req: vmv1.GetVmRequest, ctx) => {
        if (req.ref === 'dev' || req.ref === VM.id) return { vm: VM };
        if (req.ref === 'hang') await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        if (req.ref === 'helper-down') {
          // What vmd does when privhelper is not there: its own client's failure, passed on.
          const helper = new ServiceClient(helperv2.HelperServiceService, join(dir, 'no-helper.sock'), { peer: 'privhelper' });
          try {
            await helper.unary('probeHost', { deep: false }, { timeoutMs: 5000 });
          } finally {
            helper.close();
          }
        }
        throw new NotFoundError('vm', req.ref);
      }),
      listVms: unary(async () => ({ vms: [VM, STOPPED] })),
      collectGarbage: unary(async (req: vmv1.CollectGarbageRequest) =>
        vmv1.CollectGarbageResponse.fromPartial({
          dryRun: req.dryRun,
          helperReachable: true,
          pending: true,
          leftovers: [{ opId: 'op-bbbbbbbbbbbb', kind: 'tap', ref: 'bgrtap1', vmId: 'k3x9q2zz', action: req.dryRun ? 'would_remove' : 'removed', detail: '' }],
          orphans: [{ vmId: 'q8q8q8q8', held: ['disk dir (root.qcow2.partial)'], scope: 'vm', action: 'grace', detail: '', graceLeftMs: 42_000 }],
        }),
      ),
      getOperation: unary(async (req: vmv1.GetOperationRequest) => {
        if (req.opId !== DONE_OP) throw new NotFoundError('operation', req.opId);
        return { operation: commonv1.Operation.fromPartial({ opId: DONE_OP, kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE, target: 'dev', state: commonv1.OperationState.OPERATION_STATE_SUCCEEDED, stage: 'ready', lastSeq: 3, createdAt: new Date() }) };
      }),
      watchOperation: serverStream(async (req: vmv1.WatchOperationRequest, _ctx, send: Send) => {
        await send(event(req.opId, 1, { $case: 'accepted', value: { opId: req.opId, kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE, target: 'dev', targetId: '' } }));
        await send(event(req.opId, 2, { $case: 'stageFinished', value: { stage: 'network', durationMs: 412, ok: true, skipped: false, message: '' } }));
        await send(event(req.opId, 3, { $case: 'vm', value: VM }));
      }),
      execVm: unary(async (req: vmv1.ExecVmRequest) => ({
        status: { exitCode: 3, signal: '', timedOut: false, durationMs: 5 },
        stdout: Buffer.from(`ran ${req.command?.argv.join(' ')}\n`.slice(0, req.maxOutputBytes || undefined)),
        stderr: Buffer.from('warn\n'),
        stdoutTruncated: req.maxOutputBytes > 0,
        stderrTruncated: false,
      })),
      createVm: serverStream(async (req: vmv1.CreateVmRequest, ctx, send: Send) => {
        createOpIds.push(ctx.opId);
        let seq = 0;
        await send(event(ctx.opId, ++seq, { $case: 'accepted', value: { opId: ctx.opId, kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE, target: req.name, targetId: '' } }));
        await send(event(ctx.opId, ++seq, { $case: 'stageStarted', value: { stage: 'network', description: 'Creating tap', startedAt: new Date() } }));
        if (req.name === 'slow') {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
          return;
        }
        await send(event(ctx.opId, ++seq, { $case: 'stageFinished', value: { stage: 'network', durationMs: 412, ok: true, skipped: false, message: 'tap bt3' } }));
        if (req.name === 'boom') {
          await send(event(ctx.opId, ++seq, { $case: 'stageStarted', value: { stage: 'boot', description: 'Booting', startedAt: new Date() } }));
          await send(event(ctx.opId, ++seq, { $case: 'stageFinished', value: { stage: 'boot', durationMs: 30_000, ok: false, skipped: false, message: '' } }));
          const failure = commonv1.Failure.fromPartial({ stage: 'boot', code: 4, reason: 'BOOT_TIMEOUT', message: 'guest did not boot in 30s', opId: ctx.opId, consoleTail: ['Kernel panic - not syncing'] });
          await send(event(ctx.opId, ++seq, { $case: 'failure', value: failure }));
          throw new BangerError('DEADLINE_EXCEEDED', 'BOOT_TIMEOUT', 'guest did not boot in 30s');
        }
        await send(event(ctx.opId, ++seq, { $case: 'vm', value: { ...VM, name: req.name, createOpId: ctx.opId } }));
      }),
    });
    server.addService(vmv1.VmServiceService, impl as UntypedServiceImplementation);
    await server.listen({ socketPath: socket, mode: 0o600 });
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ BANGER_VMD_SOCKET: socket, BANGER_RUN_DIR: join(dir, 'none') });

  it('lists VMs as an aligned table', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'list'], io)).toBe(0);
    expect(io.stdout.lines).toEqual([
      'NAME     STATE    IP         IMAGE            AGE  UPTIME',
      'dev      running  10.20.0.2  debian-bookworm  3h   5m',
      'old-box  stopped  -          -                9d   -',
    ]);
    expect(io.stderr.text).toBe('');
  });

  it('prints one JSON document with --json', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'list', '--json'], io)).toBe(0);
    const doc = JSON.parse(io.stdout.text) as { vms: { name: string; state: string; network?: { ipv4: string } }[] };
    expect(doc.vms.map((v) => [v.name, v.state])).toEqual([
      ['dev', 'VM_STATE_RUNNING'],
      ['old-box', 'VM_STATE_STOPPED'],
    ]);
    expect(doc.vms[0]?.network?.ipv4).toBe('10.20.0.2');
  });

  it('prints NOT_FOUND as one line ending with the op id and exits 3', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'show', 'nope'], io)).toBe(3);
    expect(io.stderr.text).toMatch(/^banger: vm "nope" not found \(op-[a-z2-7]{12}\)\n$/);
    expect(io.stdout.text).toBe('');
  });

  it('prints NOT_FOUND as a JSON error object on stderr with --json', async () => {
    const io = captureIo(env());
    expect(await run(['--json', 'vm', 'show', 'nope'], io)).toBe(3);
    const { error } = JSON.parse(io.stderr.text) as { error: { code: string; reason: string; message: string; op_id: string; fields: object } };
    expect(error.code).toBe('NOT_FOUND');
    expect(error.reason).toBe('NOT_FOUND');
    expect(error.op_id).toMatch(OP_ID_PATTERN);
    expect(error.message.endsWith(`(${error.op_id})`)).toBe(true);
    expect(error.fields).toEqual(expect.any(Object));
  });

  it('exits 7 with the socket and how to start the daemon when nothing listens', async () => {
    const io = captureIo({ BANGER_VMD_SOCKET: join(dir, 'missing.sock') });
    expect(await run(['vm', 'show', 'dev'], io)).toBe(7);
    expect(io.stderr.lines).toHaveLength(2);
    expect(io.stderr.lines[0]).toMatch(new RegExp(`^banger: cannot reach vmd at ${join(dir, 'missing.sock')}: no socket there \\(op-[a-z2-7]{12}\\)$`));
    expect(io.stderr.lines[1]).toContain('systemctl start banger-vmd');
    expect(io.stderr.lines[1]).toContain('BANGER_VMD_SOCKET');
  });

  it('blames the downstream daemon, not vmd, when vmd answers that privhelper is unreachable', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'show', 'helper-down'], io)).toBe(7);
    expect(io.stderr.text).not.toContain('cannot reach vmd');
    expect(io.stderr.lines[0]).toMatch(/^banger: vmd answered, but privhelper is unavailable: .* \(op-[a-z2-7]{12}\)$/);
    expect(io.stderr.lines[1]).toContain('is privhelper running?');
    expect(io.stderr.lines[1]).toContain('systemctl start banger-privhelper');

    const jio = captureIo(env());
    expect(await run(['--json', 'vm', 'show', 'helper-down'], jio)).toBe(7);
    const { error } = JSON.parse(jio.stderr.text) as { error: { code: string; reason: string; fields: Record<string, string> } };
    expect(error).toMatchObject({ code: 'UNAVAILABLE', reason: 'HELPER_UNAVAILABLE', fields: { daemon: 'privhelper' } });
  });

  it('system gc --dry-run lists leftovers and orphans with what would happen, and doctor points at it', async () => {
    const io = captureIo(env());
    expect(await run(['system', 'gc', '--dry-run'], io)).toBe(0);
    expect(io.stdout.lines[0]).toMatch(/^WHAT +RESOURCE +OWNER +ACTION +DETAIL$/);
    expect(io.stdout.text).toMatch(/leftover +tap bgrtap1 +vm k3x9q2zz, op-bbbbbbbbbbbb +would_remove/);
    expect(io.stdout.text).toMatch(/orphan +disk dir \(root\.qcow2\.partial\) +vm q8q8q8q8 \(no row\) +grace +removable in 42s/);
    expect(io.stdout.lines.at(-1)).toBe('dry run: nothing was removed');

    const jio = captureIo(env());
    expect(await run(['--json', 'system', 'gc'], jio)).toBe(0);
    expect(JSON.parse(jio.stdout.text)).toMatchObject({ leftovers: [{ kind: 'tap', action: 'removed' }], orphans: [{ vmId: 'q8q8q8q8', action: 'grace' }] });

    const dio = captureIo(env());
    await run(['--json', 'doctor'], dio);
    const leftovers = (JSON.parse(dio.stdout.text) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks.find((c) => c.name === 'leftovers');
    expect(leftovers).toMatchObject({ status: 'warn', fix: 'banger system gc' });
    expect(leftovers?.detail).toContain('leftover tap bgrtap1 of op-bbbbbbbbbbbb');
    expect(leftovers?.detail).toContain('orphan of vm q8q8q8q8: disk dir (root.qcow2.partial) (in grace 42s)');
  });

  it('shows UNIMPLEMENTED faithfully with exit 9 and the op id', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'ports', 'dev'], io)).toBe(9);
    expect(io.stderr.text).toMatch(/^banger: .*GetVmPorts.* \(op-[a-z2-7]{12}\)\n$/);
  });

  it('streams a create: op id first, stage lines with durations, then the VM summary', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'create', '--name', 'dev2', '--memory', '1G', '--work-disk', '8'], io)).toBe(0);
    const opId = createOpIds.at(-1) ?? '';
    expect(io.stdout.lines[0]).toBe(`${opId} creating vm dev2`);
    expect(io.stdout.lines).toContain('✓ network      0.4s  tap bt3');
    expect(io.stdout.text).toMatch(/vm dev2 running in /);
    expect(io.stdout.text).toMatch(/ip +10\.20\.0\.2/);
    expect(io.stdout.text).toMatch(/ssh +ssh -i \/home\/u\/\.ssh\/banger root@dev\.vm/);
    expect(io.stdout.text).toMatch(/opencode +http:\/\/dev\.vm:4096 +ready/);
    expect(io.stderr.text).toBe('');
  });

  it('streams JSON lines of events with --json', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'create', '--name', 'dev3', '--json'], io)).toBe(0);
    const events = io.stdout.lines.map((l) => JSON.parse(l) as { opId: string; seq: number; accepted?: object; vm?: { name: string } });
    expect(events[0]?.accepted).toBeDefined();
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(events.at(-1)?.vm?.name).toBe('dev3');
    expect(new Set(events.map((e) => e.opId))).toEqual(new Set([createOpIds.at(-1)]));
  });

  it('renders a failed create with its console tail and ends with one error line carrying the same op id', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'create', '--name', 'boom'], io)).toBe(8);
    const opId = createOpIds.at(-1) ?? '';
    expect(io.stdout.lines).toContain(`✗ failed at boot: guest did not boot in 30s [BOOT_TIMEOUT] (${opId})`);
    expect(io.stdout.lines).toContain('    │ Kernel panic - not syncing');
    expect(io.stderr.text).toBe(`banger: guest did not boot in 30s (${opId})\n`);
  });

  it('detaches on Ctrl-C without cancelling and says how to re-attach (exit 130)', async () => {
    const interrupt = new AbortController();
    const stdout = new (class extends Capture {
      override write(chunk: string | Uint8Array): boolean {
        super.write(chunk);
        if (this.text.includes('network')) interrupt.abort();
        return true;
      }
    })();
    const io = { ...captureIo(env()), stdout, interrupt: interrupt.signal };
    expect(await run(['vm', 'create', '--name', 'slow'], io)).toBe(130);
    const opId = createOpIds.at(-1) ?? '';
    expect(stdout.lines[0]).toBe(`${opId} creating vm slow`);
    expect(stdout.lines.at(-1)).toBe(`detached; re-attach with: banger vm watch ${opId}`);
    expect(io.stderr.text).toBe('');
  });

  it("exits with the guest command's exit code and passes its output through", async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'exec', 'dev', '--', 'ls', '-la', '/'], io)).toBe(3);
    expect(io.stdout.text).toBe('ran ls -la /\n');
    expect(io.stderr.text).toBe('warn\n');
  });

  it('sends --max-output as max_output_bytes and names the stream that was cut', async () => {
    const io = captureIo(env());
    expect(await run(['vm', 'exec', 'dev', '--max-output', '3', '--', 'ls'], io)).toBe(3);
    expect(io.stdout.text).toBe('ran');
    expect(io.stderr.text).toMatch(/output was truncated \(stdout\); raise --max-output or use --stream/);
  });

  it('keeps a global flag given before the command out of the guest command', async () => {
    const io = captureIo(env());
    expect(await run(['--json', 'vm', 'exec', 'dev', '--', 'uname', '-a'], io)).toBe(3);
    expect((JSON.parse(io.stdout.text) as { stdout: string }).stdout).toBe('ran uname -a\n');
  });

  it('builds the ssh argv from the VM and the BANGER_SSH_KEY env: through vm tunnel, keyed by the VM id', async () => {
    const calls: [string, readonly string[]][] = [];
    const io = captureIo({ ...env(), BANGER_SSH_KEY: '/keys/id', XDG_STATE_HOME: dir, BANGER_CLI: '/usr/local/bin/banger' }, { spawn: async (f, a) => (calls.push([f, a]), 0) });
    expect(await run(['vm', 'ssh', 'dev', '--', 'uptime'], io)).toBe(0);
    expect(calls).toEqual([
      [
        'ssh',
        [
          '-o',
          `ProxyCommand=/usr/local/bin/banger --vmd-socket ${socket} vm tunnel k3x9q2aa 22 --wait 30s`,
          '-o',
          'HostKeyAlias=banger-vm-k3x9q2aa',
          '-o',
          'StrictHostKeyChecking=accept-new',
          '-o',
          `UserKnownHostsFile=${join(dir, 'banger', 'known_hosts')}`,
          '-i',
          '/keys/id',
          '-o',
          'IdentitiesOnly=yes',
          'root@dev.vm',
          'uptime',
        ],
      ],
    ]);
    // vm show names the same known_hosts file.
    const show = captureIo({ ...env(), XDG_STATE_HOME: dir });
    expect(await run(['vm', 'show', 'dev'], show)).toBe(0);
    expect(show.stdout.text).toContain(`known_hosts  ${join(dir, 'banger', 'known_hosts')}\n`);
  });

  it('reports each daemon in version, up or down, and exits 0 when one answered', async () => {
    const io = captureIo(env());
    expect(await run(['version', '--json'], io)).toBe(0);
    const doc = JSON.parse(io.stdout.text) as { client: { version: string }; daemons: { name: string; reachable: boolean; pid?: number; uptime_ms?: number }[] };
    expect(doc.client.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.daemons.map((d) => [d.name, d.reachable])).toEqual([
      ['vmd', true],
      ['imaged', false],
      ['privhelper', false],
    ]);
    expect(doc.daemons[0]?.pid).toBe(4242);
    expect(doc.daemons[0]?.uptime_ms).toBeGreaterThanOrEqual(90_000);
  });

  it('shows an operation with its replayed events; an unknown op id is NOT_FOUND from vmd', async () => {
    const io = captureIo(env());
    expect(await run(['ops', 'show', DONE_OP], io)).toBe(0);
    expect(io.stdout.text).toMatch(/op id +op-aaaaaaaaaaaa\n/);
    expect(io.stdout.text).toMatch(/state +succeeded\n/);
    expect(io.stdout.lines).toContain(`${DONE_OP} creating vm dev`);
    expect(io.stdout.lines).toContain('✓ network      0.4s');
    const json = captureIo(env());
    expect(await run(['ops', 'show', DONE_OP, '--json'], json)).toBe(0);
    const doc = JSON.parse(json.stdout.text) as { daemon: string; operation: { opId: string }; events: { seq: number }[] };
    expect(doc.daemon).toBe('vmd');
    expect(doc.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    const missing = captureIo(env());
    expect(await run(['ops', 'show', 'op-bbbbbbbbbbbb'], missing)).toBe(3);
    expect(missing.stderr.text).toMatch(/^banger: operation "op-bbbbbbbbbbbb" not found \(op-[a-z2-7]{12}\)\n$/);
  });

  it('prints ssh config blocks per VM with an address, through vm tunnel like vm ssh', async () => {
    const io = captureIo({ ...env(), BANGER_SSH_KEY: '/keys/id', XDG_STATE_HOME: '/state', BANGER_CLI: '/usr/local/bin/banger' });
    expect(await run(['ssh-config'], io)).toBe(0);
    expect(io.stdout.text).toContain(
      `Host dev dev.vm\n  HostName dev.vm\n  User root\n  ProxyCommand /usr/local/bin/banger --vmd-socket ${socket} vm tunnel k3x9q2aa 22 --wait 30s\n  HostKeyAlias banger-vm-k3x9q2aa\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile /state/banger/known_hosts\n  IdentityFile /keys/id\n`,
    );
    expect(io.stdout.text).not.toContain('Host old-box');
  });

  it('abandons a unary call on Ctrl-C and exits 130', async () => {
    const interrupt = new AbortController();
    const io = captureIo(env(), { interrupt: interrupt.signal });
    const pending = run(['vm', 'show', 'hang'], io);
    setTimeout(() => interrupt.abort(), 100);
    expect(await pending).toBe(130);
    expect(io.stderr.text).toBe('banger: interrupted\n');
  });
});
