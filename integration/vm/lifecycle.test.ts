import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { commonv1, imagev1, vmv1 } from '@banger/api';
import { OP_ID_PATTERN, RpcError } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATED_VMD, runCli } from '../harness/daemons.js';
import { collect, createVmStack, qemuPidsFor, vmUnsupportedReason, type VmStack } from './vmstack.js';

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/vm skipped: ${skip}`);

type Ev = vmv1.OperationEvent;

async function create(s: VmStack, name: string, opts: Partial<vmv1.CreateVmRequest> = {}): Promise<{ events: Ev[]; error: unknown; opId: string | undefined }> {
  const stream = s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, noWait: true, ...opts }), { timeoutMs: 900_000 });
  const { items, error } = await collect(stream);
  return { events: items.map((r) => r.event!).filter(Boolean), error, opId: await stream.opId };
}

/** Proves a VM left nothing behind: no tap assigned, no disk dir, no QEMU, no row. */
async function expectNoLeftovers(s: VmStack, vmId: string, name: string): Promise<void> {
  const links = JSON.parse(await s.ns.must('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; ifalias?: string }[];
  expect(links.filter((l) => l.ifalias === `vm:${vmId}`)).toEqual([]);
  expect(existsSync(join(s.stack.dir, 'state', 'helper', 'vms', vmId))).toBe(false);
  expect(await qemuPidsFor(vmId)).toEqual([]);
  const list = await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
  expect(list.vms.map((v) => v.name)).not.toContain(name);
}

/** A guest port the tests start a second sshd on, for automatic forwarding (high, unlikely taken on the host). */
const AUTO_PORT = 18_022;
const ARTIFACTS = join(process.cwd(), '.test-results', 'artifacts');
const run = promisify(execFile);
let forwardedPort = 0;

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The first bytes a loopback port sends (rejects with the connect error). */
function firstBytes(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    c.setTimeout(15_000, () => c.destroy(new Error('timeout')));
    c.once('data', (d: Buffer) => {
      resolve(d.toString());
      c.destroy();
    });
    c.once('error', reject);
  });
}

/** GET / on a loopback port with an Authorization header: status and body. */
function httpGet(port: number, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { authorization }, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The status line of GET / on a loopback port. */
async function httpStatusLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    c.setTimeout(60_000, () => c.destroy(new Error('timeout')));
    let buf = '';
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        resolve(buf.split('\r\n')[0] ?? '');
        c.destroy();
      }
    });
    c.once('error', reject);
  });
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(500);
  }
}

function stageNames(events: Ev[], kind: 'stageStarted' | 'stageFinished'): string[] {
  return events.flatMap((e) => (e.body?.$case === kind ? [e.body.value.stage] : []));
}

describe.skipIf(skip !== undefined)('VM lifecycle with real guests under QEMU', () => {
  let s: VmStack;

  beforeAll(async () => {
    s = await createVmStack();
    // The default image, built once per machine thanks to the shared cache.
    const build = s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
    const { error } = await collect(build);
    if (error instanceof Error) throw error;
    expect(error).toBeUndefined();
  }, 1_900_000);

  afterAll(async () => s?.close());

  let devId = '';

  it('creates a VM through streamed stages, the first event carrying the op id', async () => {
    const { events, error, opId } = await create(s, 'dev', { noWait: false });
    if (error) console.error(JSON.stringify(events.slice(-4), null, 1));
    expect(error).toBeUndefined();
    expect(opId).toMatch(OP_ID_PATTERN);
    expect(events[0]?.body).toMatchObject({ $case: 'accepted', value: { opId } });
    // `path` first: no warm snapshot exists in this stack, so the create boots and says why.
    expect(stageNames(events, 'stageFinished')).toEqual(['path', 'preflight', 'reserve', 'network', 'disks', 'boot', 'agent', 'services']);
    const path = events.flatMap((e) => (e.body?.$case === 'stageFinished' && e.body.value.stage === 'path' ? [e.body.value.message] : []));
    expect(path).toEqual([expect.stringMatching(/^cold: no warm snapshot for /)]);
    for (const e of events) if (e.body?.$case === 'stageFinished') expect(e.body.value.durationMs).toBeGreaterThanOrEqual(0);
    const last = events.at(-1)?.body;
    expect(last?.$case).toBe('vm');
    const vm = last?.$case === 'vm' ? last.value : undefined;
    expect(vm).toMatchObject({ name: 'dev', state: vmv1.VmState.VM_STATE_RUNNING });
    expect(vm?.network?.ipv4).toMatch(/^10\.231\.0\.\d+$/);
    devId = vm?.id ?? '';
  }, 900_000);

  it('runs a command in the guest through the agent', async () => {
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['uname', '-sr'] } }), { timeoutMs: 120_000 });
    expect(res.status?.exitCode).toBe(0);
    expect(Buffer.from(res.stdout).toString()).toMatch(/^Linux /);
    // The image's own kernel arguments (its recipe's kernelArgs) reach the guest after banger's.
    const cmdline = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['cat', '/proc/cmdline'] } }), { timeoutMs: 60_000 });
    expect(Buffer.from(cmdline.stdout).toString()).toMatch(/console=ttyS0 .*banger\.ip=10\.231\.0\.\d+\/24 .*net\.ifnames=0 quiet/);
    const fail = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['sh', '-c', 'echo oops >&2; exit 3'] } }));
    expect(fail.status?.exitCode).toBe(3);
    expect(Buffer.from(fail.stderr).toString()).toBe('oops\n');
  });

  it('keeps at most max_output_bytes of each stream, says which was cut, and refuses a limit past 16 MiB', async () => {
    const argv = ['sh', '-c', 'head -c 3000000 /dev/zero; echo err >&2'];
    const cut = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv }, maxOutputBytes: 100_000 }), { timeoutMs: 120_000 });
    expect(cut).toMatchObject({ stdoutTruncated: true, stderrTruncated: false });
    expect(cut.stdout.length).toBe(100_000);
    expect(Buffer.from(cut.stderr).toString()).toBe('err\n');
    const byDefault = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv } }), { timeoutMs: 120_000 });
    expect(byDefault.stdout.length).toBe(1 << 20);
    expect(byDefault.stdoutTruncated).toBe(true);
    const err = (await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv }, maxOutputBytes: (16 << 20) + 1 })).catch((e: unknown) => e)) as RpcError;
    expect(err).toMatchObject({ reason: 'INVALID_OUTPUT_LIMIT' });
  }, 240_000);

  it("stores the guest's per-VM opencode secret, read back through the agent at create", async () => {
    const res = await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: 'dev', includeSecrets: true }));
    const cred = res.vm?.credentials.find((c) => c.service === 'opencode');
    const inGuest = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['cat', '/etc/banger/secrets/opencode'] } }), { timeoutMs: 60_000 });
    expect(cred?.password).toBeTruthy();
    expect(cred?.password).toBe(Buffer.from(inGuest.stdout).toString().trim());
    const hidden = await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: 'dev' }));
    expect(hidden.vm?.credentials.every((c) => !c.password)).toBe(true);
  });

  it('streams the output of a long command while it runs', async () => {
    const stream = s.vmd.serverStream(
      'streamExecVm',
      vmv1.StreamExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['sh', '-c', 'echo one; sleep 3; echo two; echo err >&2; exit 4'] } }),
      { timeoutMs: 120_000 },
    );
    const seen: { at: number; out?: string; err?: string; exit?: number }[] = [];
    for await (const res of stream) {
      const o = res.output;
      if (o?.$case === 'stdout') seen.push({ at: Date.now(), out: Buffer.from(o.value).toString() });
      else if (o?.$case === 'stderr') seen.push({ at: Date.now(), err: Buffer.from(o.value).toString() });
      else if (o?.$case === 'exit') seen.push({ at: Date.now(), exit: o.value.exitCode });
    }
    expect(seen.map((x) => x.out ?? '').join('')).toBe('one\ntwo\n');
    expect(seen.map((x) => x.err ?? '').join('')).toBe('err\n');
    const first = seen.find((x) => x.out?.startsWith('one'));
    const exit = seen.at(-1);
    expect(exit?.exit).toBe(4);
    // "one" reached us while the command was still sleeping, not only at its end.
    expect((exit?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(1500);
  }, 180_000);

  it("a guest flooding its serial console: vmd follows it across the log's rotations while vmd's memory and the run dir stay bounded", async () => {
    const vmdPid = s.stack.daemons.vmd?.child.pid ?? 0;
    const rssBytes = async (): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${vmdPid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
    const runDir = join(s.stack.dir, 'run', 'helper', 'vms', devId);
    const runDirBytes = async (): Promise<number> => {
      let total = 0;
      for (const n of await readdir(runDir)) total += (await stat(join(runDir, n)).catch(() => undefined))?.size ?? 0;
      return total;
    };
    const before = await rssBytes();
    const marker = `FLOOD-DONE-${Date.now().toString(36)}`;
    let lines = 0;
    let seen = false;
    let peakRss = before;
    let peakDir = 0;
    const follow = (async () => {
      for await (const r of s.vmd.serverStream('streamVmConsole', vmv1.StreamVmConsoleRequest.fromPartial({ ref: 'dev', tailLines: 0, follow: true }), { timeoutMs: 300_000 })) {
        lines += r.lines.filter((l) => l.includes('banger-flood')).length;
        peakRss = Math.max(peakRss, await rssBytes());
        peakDir = Math.max(peakDir, await runDirBytes());
        if (r.lines.some((l) => l.includes(marker))) {
          seen = true;
          break;
        }
      }
    })();
    await sleep(500);
    // 30,000 lines of 100 bytes, about 2.9 MiB: three rotations at the stack's 1 MiB cap.
    const flood = `seq -f 'banger-flood %06g ${'x'.repeat(78)}' 30000 > /dev/ttyS0; echo ${marker} > /dev/ttyS0`;
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['sh', '-c', flood], timeout: { seconds: 240, nanos: 0 } } }), { timeoutMs: 300_000 });
    expect(res.status?.exitCode).toBe(0);
    await follow;
    const after = await rssBytes();
    console.info(`[console-flood vmd] followed ${lines} flood lines; vmd RSS ${Math.round(before / 2 ** 20)} -> ${Math.round(after / 2 ** 20)} MiB (peak ${Math.round(peakRss / 2 ** 20)}); run dir peak ${(peakDir / 2 ** 20).toFixed(2)} MiB`);
    expect(seen).toBe(true);
    expect(lines).toBeGreaterThan(15_000);
    expect(peakRss - before).toBeLessThan(64 * 2 ** 20);
    // console.log + console.log.1 at the 1 MiB cap, plus the other run files and slack.
    expect(peakDir).toBeLessThan(3 * 2 ** 20);
    expect(existsSync(join(runDir, 'console.log.1'))).toBe(true);
  }, 360_000);

  it('lists the guest sshd among its ports, with the NAME.vm address', async () => {
    const res = await s.vmd.unary('getVmPorts', { ref: 'dev' }, { timeoutMs: 60_000 });
    const ssh = res.ports.find((p) => p.port === 22 && p.protocol === vmv1.Protocol.PROTOCOL_TCP);
    expect(ssh).toMatchObject({ process: 'sshd', hostAddress: 'dev.vm:22' });
    expect(res.ports.some((p) => p.port === 4096)).toBe(true);
  });

  // Issue 16, parts 4-5: the VMs live in a namespace vmd (the banger uid) cannot enter, and the
  // CLI uses no `ip netns exec`: every byte goes through vmd and privhelper's ConnectGuest.
  it('vm ssh works in the namespace mode, with one known_hosts that vm show and --print name', async () => {
    const home = await mkdtemp(join(tmpdir(), 'banger-ssh-home-'));
    const env = { XDG_STATE_HOME: join(home, 'state'), HOME: home };
    try {
      const ok = await runCli(s.stack, ['vm', 'ssh', 'dev', '--', 'cat', '/etc/hostname'], 180_000, env);
      expect(ok.stderr).not.toMatch(/REMOTE HOST IDENTIFICATION/);
      expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: 'dev' });
      expect((await runCli(s.stack, ['vm', 'ssh', 'dev', '--', 'true'], 120_000, env)).code).toBe(0);
      const known = join(home, 'state', 'banger', 'known_hosts');
      // Keyed by the VM id (the file may be hashed, as Debian's ssh_config asks): ssh-keygen finds it.
      const found = await run('ssh-keygen', ['-F', `banger-vm-${devId}`, '-f', known]);
      expect(found.stdout).toMatch(/ssh-ed25519 /);
      const print = await runCli(s.stack, ['vm', 'ssh', 'dev', '--print'], 60_000, env);
      expect(print.stdout).toContain(`UserKnownHostsFile=${known}`);
      expect(print.stdout).toMatch(/ProxyCommand=.* vm tunnel [a-z0-9]+ 22/);
      expect(print.stdout).not.toMatch(/netns/);
      const show = await runCli(s.stack, ['vm', 'show', 'dev'], 60_000, env);
      expect(show.stdout).toContain(`known_hosts  ${known}\n`);
      expect(show.stdout).toMatch(/ssh +banger vm ssh dev\n/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 300_000);

  it('forwards a host loopback port to opencode in the guest, listed in vm ports', async () => {
    const port = await freePort();
    const fwd = await runCli(s.stack, ['vm', 'forward', 'dev', `4096:${port}`, '--json']);
    expect(fwd.code).toBe(0);
    expect(JSON.parse(fwd.stdout)).toMatchObject({ forward: { guestPort: 4096, hostPort: port, hostAddress: '127.0.0.1' } });
    forwardedPort = port;
    // opencode listens well before it answers: its first request under TCG can take a minute.
    const head = await waitFor(async () => httpStatusLine(port), 300_000);
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    const ports = await s.vmd.unary('getVmPorts', { ref: 'dev' }, { timeoutMs: 60_000 });
    expect(ports.forwards).toContainEqual(expect.objectContaining({ guestPort: 4096, hostPort: port, auto: false, problem: '' }));
    expect((ports.forwards.find((f) => f.hostPort === port)?.connections ?? 0)).toBeGreaterThanOrEqual(1);
    // Refused without changing anything: a non-loopback address, a privileged host port.
    const wide = await s.vmd.unary('forwardPort', { ref: 'dev', guestPort: 4096, hostPort: port + 1, hostAddress: '0.0.0.0' }).catch((e: unknown) => e as RpcError);
    expect(wide).toMatchObject({ reason: 'FORWARD_ADDRESS_REFUSED' });
    const low = await s.vmd.unary('forwardPort', { ref: 'dev', guestPort: 4096, hostPort: 80, hostAddress: '' }).catch((e: unknown) => e as RpcError);
    expect(low).toMatchObject({ reason: 'BAD_PORT' });
  }, 420_000);

  it('forwards a new guest listener automatically to the same host port, and stops when turned off', async () => {
    const started = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['/usr/sbin/sshd', '-p', String(AUTO_PORT)] } }), { timeoutMs: 60_000 });
    expect(started.status?.exitCode).toBe(0);
    const appeared = await waitFor(async () => (await s.vmd.unary('getVmPorts', { ref: 'dev' }, { timeoutMs: 60_000 })).forwards.find((f) => f.hostPort === AUTO_PORT), 60_000);
    expect(appeared).toMatchObject({ guestPort: AUTO_PORT, auto: true, problem: '' });
    expect(await firstBytes(AUTO_PORT)).toMatch(/^SSH-2\.0-/);
    expect((await runCli(s.stack, ['vm', 'forward', 'dev', '--auto', 'off'])).code).toBe(0);
    const vm = (await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm;
    expect(vm?.autoForward).toBe(false);
    expect(vm?.forwards.map((f) => f.hostPort)).toEqual([forwardedPort]);
    await expect(firstBytes(AUTO_PORT)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await runCli(s.stack, ['vm', 'forward', 'dev', '--auto', 'on'])).code).toBe(0);
  }, 180_000);

  it("resolves NAME.vm inside the guest through banger's DNS responder at its gateway", async () => {
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['getent', 'hosts', 'dev.vm'] } }), { timeoutMs: 60_000 });
    expect(res.status?.exitCode).toBe(0);
    expect(Buffer.from(res.stdout).toString()).toMatch(/^10\.231\.0\.\d+\s+dev\.vm/);
  });

  it('changes the egress policy of the running guest: only its fence changes, DNS keeps working, a bad CIDR is refused by field', async () => {
    const ruleset = () => s.ns.must('nft', ['list', 'ruleset']);
    const before = await ruleset();
    const tap = (await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm?.network?.tap ?? '';
    expect(before).toContain(`"${tap}" . `);
    const res = await s.vmd.unary('setVmEgress', { ref: 'dev', egress: { mode: vmv1.EgressMode.EGRESS_MODE_DENY, cidrs: [], hostnames: [] } });
    expect(res.applied).toBe(true);
    expect((await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm?.egress?.mode).toBe(vmv1.EgressMode.EGRESS_MODE_DENY);
    const chain = await s.ns.must('nft', ['list', 'chain', 'inet', 'banger', `vm_${tap}`]);
    expect(chain).not.toContain('accept');
    const dns = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['getent', 'hosts', 'dev.vm'] } }), { timeoutMs: 60_000 });
    expect(dns.status?.exitCode).toBe(0);
    const bad = await s.vmd.unary('setVmEgress', { ref: 'dev', egress: { mode: vmv1.EgressMode.EGRESS_MODE_LIST, cidrs: ['10.0.0.1/8'], hostnames: [] } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RpcError);
    expect(bad).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'BAD_CIDR' });
    expect((bad as RpcError).message).toMatch(/egress\.cidrs\[0\].*\(op-[a-z2-7]{12}\)$/);
    await s.vmd.unary('setVmEgress', { ref: 'dev', egress: { mode: vmv1.EgressMode.EGRESS_MODE_ALLOW, cidrs: [], hostnames: [] } });
    expect(await ruleset()).toBe(before);
  });

  it('reports host-side stats of the VM process', async () => {
    const res = await s.vmd.unary('getVmStats', { ref: 'dev' });
    expect(res.current?.rssBytes).toBeGreaterThan(50 * 1024 * 1024);
    expect(res.current?.guestMemoryBytes).toBe(512 * 1024 * 1024);
  });

  it('keeps the VM running across a vmd restart', async () => {
    const pids = await qemuPidsFor(devId);
    expect(pids).toHaveLength(1);
    expect(await s.stack.stop('vmd')).toBe(0);
    await s.stack.start('vmd');
    const vm = (await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm;
    expect(vm?.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    expect(await qemuPidsFor(devId)).toEqual(pids);
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: devId.slice(0, 6), command: { argv: ['true'] } }), { timeoutMs: 60_000 });
    expect(res.status?.exitCode).toBe(0);
  });

  it('stops gracefully and starts again through streamed stages', async () => {
    const stopped = await s.vmd.unary('stopVm', { ref: 'dev', timeout: { seconds: 60, nanos: 0 } }, { timeoutMs: 120_000 });
    expect(stopped.vm?.state).toBe(vmv1.VmState.VM_STATE_STOPPED);
    expect(await qemuPidsFor(devId)).toEqual([]);
    // Forwards stop with the VM (the upkeep pass runs every 3 s) and come back with it.
    await waitFor(async () => ((await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm?.forwards.length === 0 ? true : undefined), 30_000);
    await expect(firstBytes(forwardedPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const err = (await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['true'] } })).catch((e: unknown) => e)) as RpcError;
    expect(err.reason).toBe('VM_NOT_RUNNING');
    const stream = s.vmd.serverStream('startVm', { ref: 'dev', noWait: true }, { timeoutMs: 600_000 });
    const { items, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(stageNames(items.map((i) => i.event!), 'stageFinished')).toEqual(['network', 'boot', 'agent', 'services']);
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['cat', '/etc/hostname'] } }), { timeoutMs: 60_000 });
    expect(Buffer.from(res.stdout).toString().trim()).toBe('dev');
    const back = await waitFor(async () => (await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm?.forwards.find((f) => f.hostPort === forwardedPort && f.problem === ''), 30_000);
    expect(back).toMatchObject({ guestPort: 4096, auto: false });
    // A restart boots with the image's kernel arguments too (kept in the VM's spec).
    const cmdline = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'dev', command: { argv: ['cat', '/proc/cmdline'] } }), { timeoutMs: 60_000 });
    expect(Buffer.from(cmdline.stdout).toString()).toMatch(/net\.ifnames=0 quiet/);
  });

  // Last of the tests that use the running guest: a real browser session makes the 512 MiB guest's
  // opencode busy for a while (in CI the DNS and egress tests after it failed), and the tests
  // below need the guest only to stop it.
  // Opt-in (BANGER_TEST_BROWSER=1) until it is reliable: in CI runs on two loaded cores the
  // guest's opencode, after a browser session or a restart, did not answer in time.
  it.runIf(process.env['BANGER_TEST_BROWSER'] === '1')('a headless Chromium loads the opencode web UI through the forward (screenshot kept in .test-results/artifacts)', async () => {
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
    if (!chromium) throw new Error('chromium is not installed (scripts/install-deps.sh --test installs it)');
    const vm = (await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: true })).vm;
    const cred = vm?.credentials.find((c) => c.service === 'opencode');
    expect(cred?.password).toBeTruthy();
    const url = `http://${encodeURIComponent(cred?.username ?? '')}:${encodeURIComponent(cred?.password ?? '')}@127.0.0.1:${forwardedPort}/`;
    expect(forwardedPort).toBeGreaterThan(0);
    // The page itself through the forward, with the credential (what any browser gets first).
    const auth = `Basic ${Buffer.from(`${cred?.username ?? ''}:${cred?.password ?? ''}`).toString('base64')}`;
    // The VM was just restarted without waiting for its services: opencode takes minutes to listen.
    const page = await waitFor(async () => {
      const r = await httpGet(forwardedPort, auth);
      return r.status === 200 && /<title>OpenCode<\/title>/i.test(r.body) ? r : undefined;
    }, 480_000);
    expect(page.status).toBe(200);
    const shot = join(ARTIFACTS, 'opencode-forward.png');
    await mkdir(ARTIFACTS, { recursive: true });
    // Each run gets its own profile: a second Chromium on a profile still locked hands off and exits.
    // The virtual time budget lets the app render; --timeout bounds a page that never goes idle.
    const chrome = async (extra: string[]) => {
      const profile = await mkdtemp(join(tmpdir(), 'banger-chromium-'));
      try {
        const flags = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, '--window-size=1280,800', '--virtual-time-budget=30000', '--timeout=90000'];
        return await run(chromium, [...flags, ...extra, url], { timeout: 150_000, maxBuffer: 32 * 2 ** 20 });
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    };
    // One Chromium session renders the app (the page itself was checked above). A second one
    // in a row met ERR_EMPTY_RESPONSE in CI: the 512 MiB guest's opencode is busy or restarting
    // after a first session, so a retry waits for it; each failure is kept for the message.
    const tries: string[] = [];
    for (let i = 0; i < 3 && !existsSync(shot); i++) {
      if (i > 0) await waitFor(async () => ((await httpGet(forwardedPort, auth).catch(() => undefined))?.status === 200 ? true : undefined), 180_000);
      const pic = await chrome([`--screenshot=${shot}`]);
      if (!existsSync(shot)) tries.push(pic.stderr.split('\n').filter((l) => !/dbus/.test(l)).slice(-3).join('\n'));
    }
    const vmdWarnings = (s.stack.daemons.vmd?.logs ?? []).filter((l) => String(l.msg).includes('forwarded connection')).slice(-3);
    expect(existsSync(shot), `${tries.join('\n---\n')}\n${JSON.stringify(vmdWarnings)}`).toBe(true);
    expect((await stat(shot)).size).toBeGreaterThan(3000);
  }, 900_000);

  it('refuses a taken name and a bad name with precise errors and op ids', async () => {
    const taken = await create(s, 'dev');
    expect((taken.error as RpcError).reason).toBe('VM_NAME_TAKEN');
    expect((taken.error as RpcError).opId).toBe(taken.opId);
    const bad = await create(s, 'Dev_1');
    expect((bad.error as RpcError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.events).toEqual([]);
  });

  it('promotes a stopped VM into an image and lists it for pruning', async () => {
    await s.vmd.unary('stopVm', { ref: 'dev', timeout: { seconds: 60, nanos: 0 } }, { timeoutMs: 120_000 });
    const promoted = await s.vmd.unary('promoteVm', { ref: 'dev', imageName: 'dev-snap' }, { timeoutMs: 600_000 });
    expect(promoted.image?.name).toBe('dev-snap');
    const img = await s.images.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: 'dev-snap' }));
    expect(img.image?.name).toBe('dev-snap');
    const dry = await s.vmd.unary('pruneVms', { olderThan: { seconds: 0, nanos: 0 }, dryRun: true });
    expect(dry.deleted.map((v) => v.name)).toContain('dev');
    expect((await s.vmd.unary('getVm', { ref: 'dev', includeSecrets: false })).vm?.state).toBe(vmv1.VmState.VM_STATE_STOPPED);
  }, 900_000);

  it('deletes a VM and every host resource it had', async () => {
    await s.vmd.unary('deleteVm', { ref: 'dev', force: false }, { timeoutMs: 120_000 });
    await expectNoLeftovers(s, devId, 'dev');
  });

  it('creates two VMs concurrently', async () => {
    const [a, b] = await Promise.all([create(s, 'twin-a'), create(s, 'twin-b')]);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    const list = await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
    const twins = list.vms.filter((v) => v.name.startsWith('twin-'));
    expect(twins.map((v) => v.state)).toEqual([vmv1.VmState.VM_STATE_RUNNING, vmv1.VmState.VM_STATE_RUNNING]);
    expect(new Set(twins.map((v) => v.network?.ipv4)).size).toBe(2);
    for (const v of twins) {
      await s.vmd.unary('deleteVm', { ref: v.name, force: true }, { timeoutMs: 120_000 });
      await expectNoLeftovers(s, v.id, v.name);
    }
  }, 900_000);

  it.each(['reserve', 'network', 'disks', 'boot', 'agent'])('a failure in stage %s rolls back everything', async (stage) => {
    await s.stack.stop('vmd');
    await s.stack.start('vmd', { entry: GATED_VMD, env: { BANGER_TEST_STAGE_GATE: JSON.stringify({ stage, action: 'fail', kind: 'vm_create' }) } });
    try {
      const name = `f-${stage}`;
      const { events, error, opId } = await create(s, name);
      expect(error).toBeInstanceOf(RpcError);
      const failure = events.find((e) => e.body?.$case === 'failure')?.body;
      expect(failure?.$case === 'failure' ? failure.value : undefined).toMatchObject({ stage, opId });
      const accepted = events[0]?.body;
      expect(accepted?.$case).toBe('accepted');
      const op = (await s.vmd.unary('getOperation', { opId: opId ?? '' })).operation;
      expect(op?.state).toBe(commonv1.OperationState.OPERATION_STATE_FAILED);
      const vmId = op?.targetId ?? '';
      if (vmId) await expectNoLeftovers(s, vmId, name);
      else {
        const list = await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
        expect(list.vms.map((v) => v.name)).not.toContain(name);
      }
    } finally {
      await s.stack.stop('vmd');
      await s.stack.start('vmd');
    }
  });

  it.each(['network', 'disks', 'boot'])('cleans up after vmd is killed right after stage %s of a create', async (stage) => {
    await s.stack.stop('vmd');
    await s.stack.start('vmd', { entry: GATED_VMD, env: { BANGER_TEST_STAGE_GATE: JSON.stringify({ stage, action: 'hold', kind: 'vm_create' }) } });
    const name = `k-${stage}`;
    const stream = s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, noWait: true }), { timeoutMs: 600_000 });
    const consumed = collect(stream);
    await s.stack.waitForLog((l) => l.msg === 'stage gate holding' && l['stage'] === stage, 120_000);
    const opId = await stream.opId;
    const vmId = (await s.vmd.unary('getVm', { ref: name, includeSecrets: false })).vm?.id ?? '';
    await s.stack.stop('vmd', 'SIGKILL');
    await consumed;
    await s.stack.start('vmd');
    await s.stack.waitForLog((l) => l.msg === 'reconciled with the host', 60_000);
    const op = (await s.vmd.unary('getOperation', { opId: opId ?? '' })).operation;
    expect(op?.error?.reason).toBe('INTERRUPTED');
    await expectNoLeftovers(s, vmId, name);
  });

  it('cleans up after vmd is killed in the middle of a create', async () => {
    const stream = s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'crash', noWait: true }), { timeoutMs: 600_000 });
    let vmId = '';
    for await (const res of stream) {
      const b = res.event?.body;
      if (b?.$case === 'stageStarted' && b.value.stage === 'agent') break;
    }
    const opId = await stream.opId;
    const vm = (await s.vmd.unary('getVm', { ref: 'crash', includeSecrets: false })).vm;
    vmId = vm?.id ?? '';
    expect(await qemuPidsFor(vmId)).toHaveLength(1);
    await s.stack.stop('vmd', 'SIGKILL');
    await s.stack.start('vmd');
    const deadline = Date.now() + 60_000;
    while (!s.stack.daemons.vmd?.logs.some((l) => l.msg === 'reconciled with the host') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const op = (await s.vmd.unary('getOperation', { opId: opId ?? '' })).operation;
    expect(op?.error?.reason).toBe('INTERRUPTED');
    await expectNoLeftovers(s, vmId, 'crash');
  });
});
