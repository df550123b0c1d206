/**
 * (a) create→ready latency through banger versus a bare QEMU boot of the same kernel, image
 * and flags (the exact argv privhelper recorded in launch.json, with fresh disks handed over as
 * descriptors the same way, and a tap of our own) to the same readiness point: the guest agent
 * answering guest-ping.
 * (b) N concurrent creates, total and per VM. (c) host memory per idle VM: its QEMU's RSS plus
 * what the daemons' RSS grew by per VM while holding them, versus guest RAM + 64 MiB (the
 * daemons' own footprint, the same with zero or fifty VMs, is reported apart).
 * Everything runs inside a throwaway network namespace (integration/vm/vmstack.ts).
 *
 *   node --import tsx bench/vm.ts [--short] [--runs N] [--concurrency N] [--dry-run] [--out PATH]
 *
 * On a machine that cannot boot VMs, or with --dry-run, it writes the same JSON with
 * `skipped: "<reason>"` and exits 0.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imagev1, vmv1 } from '@banger/api';
import { collect, createVmStack, qemuPidsFor, vmUnsupportedReason, type VmStack } from '../integration/vm/vmstack.js';
import { hostFacts, intFlag, parseFlags, round, summarize, table, writeResult } from './lib.js';

const GUEST_MIB = 512; // createVmStack's default_memory_mib
const TARGETS = { overhead_ratio_max: 0.1, overhead_ms_max: 500, memory_overhead_mib_max: 64 };

/**
 * privhelper's launch.json (adapters/qemu/driver.ts): the argv, and the store image the root
 * overlay was over. Before the jail the argv daemonized and named its sockets (`spec.run`);
 * jailed, it runs in the foreground on descriptors and `jail` names its supervisor.
 */
interface LaunchRecord {
  vmId: string;
  argv: string[];
  baseImage: string;
  spec: { workDisk: boolean; mac?: string; kernel?: { name: string; version: string }; run?: { agentSocket: string; consoleLog: string; qmpSocket: string; pidFile: string } };
  jail?: { supervisorPid: number };
}

interface CreateRun {
  vmId: string;
  agentReadyMs: number;
  readyMs: number;
  stages: Record<string, number>;
}

async function createOne(s: VmStack, name: string): Promise<CreateRun> {
  const t0 = performance.now();
  let agentReadyMs = NaN;
  let vmId = '';
  const stages: Record<string, number> = {};
  const stream = s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, noWait: true }), { timeoutMs: 900_000 });
  for await (const r of stream) {
    const b = r.event?.body;
    if (b?.$case === 'accepted') vmId = b.value.targetId || vmId;
    if (b?.$case === 'stageFinished') {
      stages[b.value.stage] = Number(b.value.durationMs);
      // The agent stage ends when guest-ping answers: the point the bare boot waits for.
      if (b.value.stage === 'agent') agentReadyMs = performance.now() - t0;
    }
  }
  const readyMs = performance.now() - t0;
  if (!vmId) vmId = (await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: name }))).vm?.id ?? '';
  return { vmId, agentReadyMs, readyMs, stages };
}

async function findLaunchRecord(dir: string, vmId: string): Promise<LaunchRecord | undefined> {
  for (const entry of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    if (!String(entry).endsWith('launch.json')) continue;
    const rec = JSON.parse(await readFile(join(dir, String(entry)), 'utf8').catch(() => '{}')) as Partial<LaunchRecord>;
    if (rec.vmId === vmId && rec.argv && rec.spec && rec.baseImage) return rec as LaunchRecord;
  }
  return undefined;
}

/** Runs a tool to completion; resolves its stdout. `fds` become the child's fds 3, 4, ... */
function run(file: string, args: readonly string[], fds: readonly number[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe', ...fds] });
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')}: ${code} ${err}`))));
  });
}

/**
 * The bare side's readiness check, independent of banger's agent client: one connection to the
 * agent's virtio-serial socket, a guest-ping written every 100 ms (QEMU holds them until qemu-ga
 * opens its port), done at the first answer. The socket exists once -daemonize returns.
 */
async function waitForAgent(socketPath: string, deadline: number): Promise<void> {
  const sock = connect(socketPath);
  try {
    await new Promise<void>((resolve, reject) => {
      const tick = setInterval(() => {
        if (Date.now() > deadline) reject(new Error('bare QEMU: guest agent did not answer before the deadline'));
        else sock.write('{"execute":"guest-ping"}\n');
      }, 100);
      const done = (err?: Error): void => {
        clearInterval(tick);
        if (err) reject(err);
        else resolve();
      };
      sock.once('error', done);
      sock.on('data', (d: Buffer) => d.toString().includes('"return"') && done());
    });
  } finally {
    sock.destroy();
  }
}

/**
 * Replays privhelper's argv with disks, sockets and tap of our own; returns ms to agent ping.
 * Like privhelper, it hands QEMU descriptors (fds 3, 4, 5: a fresh root overlay over the VM's
 * store image, that image read-only, a copy of the VM's work disk), so like the banger create
 * this is the root disk's first boot.
 */
async function bareBoot(s: VmStack, rec: LaunchRecord, workDir: string): Promise<number> {
  const dir = await mkdtemp(join(workDir, 'bare-'));
  const tap = `bgr-b${randomBytes(3).toString('hex')}`;
  const helperState = join(s.stack.dir, 'state', 'helper');
  const base = join(helperState, 'images', rec.baseImage, 'rootfs.ext4');
  const overlay = join(dir, 'root.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', base, '-F', 'raw', overlay, String((await stat(base)).size)]);
  const work = join(dir, 'work.ext4');
  if (rec.spec.workDisk) await run('cp', ['--sparse=always', join(helperState, 'vms', rec.vmId, 'work.ext4'), work]);
  const paths = { agent: join(dir, 'agent.sock'), console: join(dir, 'console.log'), qmp: join(dir, 'qmp.sock'), pid: join(dir, 'qemu.pid') };
  // A jailed launch runs QEMU in the foreground; before the jail it daemonized.
  const jailed = !rec.argv.includes('-daemonize');
  const argv = jailed ? unjailedArgv(rec, paths, tap, helperState) : daemonizedArgv(rec, paths, tap);
  if (argv.some((a) => a.includes(tap))) await s.ns.must('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  const files = [await open(overlay, 'r+'), await open(base, 'r'), ...(rec.spec.workDisk ? [await open(work, 'r+')] : [])];
  const t0 = performance.now();
  let pid = 0;
  try {
    const [file, ...args] = argv as [string, ...string[]];
    if (jailed) {
      // The same QEMU in the foreground, as the jailer runs it, minus the jail: serial on stdout.
      const out = await open(paths.console, 'w');
      const c = spawn(file, args, { stdio: ['ignore', out.fd, 'ignore', ...files.map((f) => f.fd)], detached: true });
      await out.close();
      pid = c.pid ?? 0;
      c.unref();
      while (!(await stat(paths.agent).then(() => true, () => false))) {
        if (performance.now() - t0 > 60_000) throw new Error('bare QEMU: no agent socket after 60 s');
        await sleep(10);
      }
    } else {
      await run(file, args, files.map((f) => f.fd)); // -daemonize: returns once QEMU is up
    }
    await waitForAgent(paths.agent, Date.now() + 600_000);
    return performance.now() - t0;
  } finally {
    await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    if (pid === 0) pid = Number((await readFile(paths.pid, 'utf8').catch(() => '')).trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
    await sleep(300);
    if (argv.some((a) => a.includes(tap))) await s.ns.exec('ip', ['link', 'del', tap]);
    await rm(dir, { recursive: true, force: true });
  }
}

type BarePaths = { agent: string; console: string; qmp: string; pid: string };

/** A pre-jail argv (-daemonize, named sockets, ifname=) pointed at the bare side's own files and tap. */
function daemonizedArgv(rec: LaunchRecord, paths: BarePaths, tap: string): string[] {
  const r = rec.spec.run!;
  const pairs: [string, string][] = [[r.agentSocket, paths.agent], [r.consoleLog, paths.console], [r.qmpSocket, paths.qmp], [r.pidFile, paths.pid]];
  const vmTap = /(?:^|,)ifname=([^,]+)/.exec(rec.argv.find((a) => a.startsWith('tap,')) ?? '')?.[1];
  if (vmTap) pairs.push([`ifname=${vmTap},`, `ifname=${tap},`]);
  return rec.argv.map((a) => pairs.reduce((out, [from, to]) => out.split(from).join(to), a));
}

/** A jailed argv (jail kernel paths, sockets and tap as fds) with host paths, named sockets and a tap of its own. */
function unjailedArgv(rec: LaunchRecord, paths: BarePaths, tap: string, helperState: string): string[] {
  const k = rec.spec.kernel;
  if (!k) throw new Error(`launch.json of ${rec.vmId} names no kernel`);
  const kdir = join(helperState, 'kernels', k.name, k.version);
  return rec.argv.map((a, i) => {
    const prev = rec.argv[i - 1];
    if (prev === '-kernel') return join(kdir, 'vmlinux');
    if (prev === '-initrd') return join(kdir, 'initrd.img');
    if (a.startsWith('socket,id=agent0,fd=')) return a.replace(/fd=\d+/, `path=${paths.agent}`);
    if (a.startsWith('socket,id=qmp0,fd=')) return a.replace(/fd=\d+/, `path=${paths.qmp}`);
    if (a.startsWith('tap,') && a.includes('fd=')) return a.replace(/fd=\d+/, `ifname=${tap},script=no,downscript=no`);
    return a;
  });
}

/** The last console lines of every guest the stack ran, to explain a failed boot. */
async function consoleTails(runDir: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const entry of await readdir(runDir, { recursive: true }).catch(() => [] as string[])) {
    if (!String(entry).endsWith('console.log')) continue;
    const text = await readFile(join(runDir, String(entry)), 'utf8').catch(() => '');
    out[String(entry)] = text.trimEnd().split('\n').slice(-25);
  }
  return out;
}

/** Proportional set size: shared pages (QEMU's libraries, the page cache of its image) split among their users. */
async function pssMib(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 'NaN');
  return kb / 1024;
}

async function rssMib(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
  return kb / 1024;
}

function skipped(reason: string, params: object, short: boolean): object {
  return {
    name: 'vm',
    short,
    time: new Date().toISOString(),
    skipped: reason,
    params,
    targets: TARGETS,
    create: null,
    bare: null,
    overhead: null,
    concurrent: null,
    memory: null,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['runs', 'concurrency']);
  const runs = intFlag(flags, 'runs', flags.short ? 1 : 5);
  const concurrency = intFlag(flags, 'concurrency', flags.short ? 2 : 3);
  const params = { runs, concurrency, guest_memory_mib: GUEST_MIB };
  const reason = flags.dryRun ? `dry run (this machine: ${vmUnsupportedReason() ?? 'could run VMs'})` : vmUnsupportedReason();
  if (reason) {
    const path = await writeResult('vm', flags, { ...skipped(reason, params, flags.short), host: await hostFacts() });
    process.stdout.write(`skipped: ${reason} (${path})\n`);
    return;
  }

  const s = await createVmStack();
  const workDir = await mkdtemp(join(tmpdir(), 'banger-bench-vm-'));
  try {
    process.stderr.write('building or reusing the default image...\n');
    const build = await collect(s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 }));
    if (build.error) throw build.error instanceof Error ? build.error : new Error(JSON.stringify(build.error));

    // (a) sequential creates, each followed by a bare boot of the very same launch.
    const creates: CreateRun[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c = await createOne(s, `bench-${i}`);
      creates.push(c);
      process.stderr.write(`create ${i + 1}/${runs}: agent ready ${Math.round(c.agentReadyMs)} ms, ready ${Math.round(c.readyMs)} ms\n`);
      const rec = await findLaunchRecord(join(s.stack.dir, 'run'), c.vmId);
      if (!rec) throw new Error(`no launch.json for ${c.vmId} under ${s.stack.dir}/run`);
      await s.vmd.unary('stopVm', vmv1.StopVmRequest.fromPartial({ ref: `bench-${i}` })).catch(() => s.vmd.unary('killVm', vmv1.KillVmRequest.fromPartial({ ref: `bench-${i}` })));
      bare.push(await bareBoot(s, rec, workDir));
      process.stderr.write(`bare boot ${i + 1}/${runs}: agent ready ${Math.round(bare[bare.length - 1] ?? 0)} ms\n`);
      await s.vmd.unary('deleteVm', vmv1.DeleteVmRequest.fromPartial({ ref: `bench-${i}`, force: true }));
    }

    // (b) N concurrent creates; (c) memory while they sit idle: each VM's QEMU plus what the
    // daemons grew by while holding them (their start-up footprint is a fixed cost, reported apart).
    const daemonPids = Object.values(s.stack.daemons).flatMap((d) => (d?.child.pid ? [d.child.pid] : []));
    const daemonsRss = async (): Promise<number> => (await Promise.all(daemonPids.map(rssMib))).reduce((a, b) => a + b, 0);
    const daemonsBefore = await daemonsRss();
    const t0 = performance.now();
    const concurrent = await Promise.all(Array.from({ length: concurrency }, (_, i) => createOne(s, `bench-c${i}`)));
    const totalMs = performance.now() - t0;
    await sleep(flags.short ? 3000 : 15_000);
    const qemu = await Promise.all(concurrent.map(async (c) => (await Promise.all((await qemuPidsFor(c.vmId)).map(rssMib))).reduce((a, b) => a + b, 0)));
    const qemuPss = await Promise.all(concurrent.map(async (c) => (await Promise.all((await qemuPidsFor(c.vmId)).map(pssMib))).reduce((a, b) => a + b, 0)));
    // The jail's root supervisor (console copier, exit recorder) is part of a VM's cost too.
    const supervisors = await Promise.all(
      concurrent.map(async (c) => {
        const sup = (await findLaunchRecord(join(s.stack.dir, 'run'), c.vmId))?.jail?.supervisorPid;
        return sup ? rssMib(sup) : 0;
      }),
    );
    const daemons = await daemonsRss();
    for (const c of concurrent) await s.vmd.unary('deleteVm', vmv1.DeleteVmRequest.fromPartial({ ref: c.vmId, force: true })).catch(() => undefined);

    const agent = summarize(creates.map((c) => c.agentReadyMs));
    const bareStats = summarize(bare);
    const daemonGrowthPerVm = Math.max(0, daemons - daemonsBefore) / concurrency;
    const perVm = qemu.map((q, i) => q + (supervisors[i] ?? 0) + daemonGrowthPerVm);
    const meanPerVm = perVm.reduce((a, b) => a + b, 0) / Math.max(1, perVm.length);
    const overheadMs = round(agent.p50_ms - bareStats.p50_ms, 1);
    const ratio = round(agent.p50_ms / bareStats.p50_ms - 1);
    // The difference of two TCG boots moves by a few hundred ms either way from run to run, so
    // the host-side stages banger spends before the guest runs are judged directly as well.
    const hostSide = summarize(creates.map((c) => ['preflight', 'reserve', 'network', 'disks', 'boot'].reduce((a, k) => a + (c.stages[k] ?? 0), 0)));
    const hostRatio = round(hostSide.p50_ms / agent.p50_ms);
    const overheadPass =
      ratio <= TARGETS.overhead_ratio_max && overheadMs <= TARGETS.overhead_ms_max && hostRatio <= TARGETS.overhead_ratio_max && hostSide.p50_ms <= TARGETS.overhead_ms_max;
    const result = {
      name: 'vm',
      short: flags.short,
      time: new Date().toISOString(),
      host: await hostFacts(),
      skipped: null,
      params,
      targets: TARGETS,
      create: {
        to_agent: agent,
        to_ready_incl_services: summarize(creates.map((c) => c.readyMs)),
        // Host-side stages before the guest runs: the part of create→agent that is banger's own.
        control_plane_stages: hostSide,
        stages: creates.map((c) => c.stages),
      },
      bare: { name: 'same argv, fresh overlays, own tap; to guest-ping', ...bareStats },
      overhead: {
        p50_ms: overheadMs,
        p50_ratio: ratio,
        control_plane_p50_ms: hostSide.p50_ms,
        control_plane_p50_ratio: hostRatio,
        pass: overheadPass,
      },
      concurrent: { n: concurrency, total_ms: round(totalMs, 1), per_vm: summarize(concurrent.map((c) => c.readyMs)) },
      memory: {
        qemu_rss_mib: qemu.map((q) => round(q, 1)),
        qemu_pss_mib: qemuPss.map((q) => round(q, 1)),
        qemu_pss_p50_mib: round([...qemuPss].sort((a, b) => a - b)[Math.floor((qemuPss.length - 1) / 2)] ?? NaN, 1),
        supervisor_rss_mib: supervisors.map((q) => round(q, 1)),
        daemons_rss_mib: { before: round(daemonsBefore, 1), with_vms: round(daemons, 1), growth_per_vm: round(daemonGrowthPerVm, 1) },
        per_idle_vm_mib: round(meanPerVm, 1),
        budget_mib: GUEST_MIB + TARGETS.memory_overhead_mib_max,
        pass: meanPerVm <= GUEST_MIB + TARGETS.memory_overhead_mib_max,
      },
    };
    const path = await writeResult('vm', flags, result);
    process.stdout.write(
      table(
        ['measure', 'p50 ms', 'p95 ms', 'n'],
        [
          ['banger create→agent', agent.p50_ms, agent.p95_ms, agent.n],
          ['bare qemu→agent', bareStats.p50_ms, bareStats.p95_ms, bareStats.n],
          [`${concurrency} concurrent creates (per VM)`, result.concurrent.per_vm.p50_ms, result.concurrent.per_vm.p95_ms, concurrency],
        ],
      ) +
        `overhead vs bare ${overheadMs} ms (${round(ratio * 100, 1)}%), host-side stages ${hostSide.p50_ms} ms (${round(hostRatio * 100, 1)}%) vs ≤ ${TARGETS.overhead_ms_max} ms and ≤ ${TARGETS.overhead_ratio_max * 100}%: ${result.overhead.pass ? 'PASS' : 'OVER'}\n` +
        `QEMU PSS p50 ${result.memory.qemu_pss_p50_mib} MiB; memory per idle VM ${round(meanPerVm, 1)} MiB vs ≤ ${GUEST_MIB + TARGETS.memory_overhead_mib_max} MiB: ${result.memory.pass ? 'PASS' : 'OVER'}  (${path})\n`,
    );
  } catch (err) {
    // A machine that can run VMs but failed to: a result, not a skip, and a non-zero exit.
    const e = err as { message?: string; reason?: string; opId?: string };
    const log = e.opId ? s.stack.logsFor(e.opId).filter((l) => l.level !== 'debug') : [];
    const error = {
      message: e.message ?? String(err),
      reason: e.reason ?? null,
      op_id: e.opId ?? null,
      consoles: await consoleTails(join(s.stack.dir, 'run')),
      // What the daemons said about that operation, for the boot that failed.
      log: log.slice(-30).map((l) => ({ service: l.service, level: l.level, msg: l.msg, ...(l['stage'] ? { stage: l['stage'] } : {}) })),
    };
    const path = await writeResult('vm', flags, { ...skipped('', params, flags.short), skipped: null, error, host: await hostFacts() });
    process.stderr.write(`bench/vm failed: ${error.message}; guest consoles and op id in ${path}\n`);
    process.exitCode = 1;
  } finally {
    await s.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
