import { randomBytes } from 'node:crypto';
import { access, rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { helperv2 } from '@banger/api';
import { mintOpId, OP_ID_PATTERN, RpcError, ServiceClient } from '@banger/runtime';
import { writeStoreImage, type StoreImageOptions } from '../../services/privhelper/src/testing/store-fixtures.js';
import { createStack, type LogRecord, type RunningDaemon, type Stack } from '../harness/daemons.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';
import { stageTinyKernel } from '../harness/tiny-kernel.js';

export type HelperClient = ServiceClient<typeof helperv2.HelperServiceService>;
type Def = typeof helperv2.HelperServiceService;
type UnaryKey = { [K in keyof Def]: Def[K]['responseStream'] extends false ? K : never }[keyof Def];
type Req<K extends UnaryKey> = Parameters<Def[K]['requestSerialize']>[0];
type Res<K extends UnaryKey> = ReturnType<Def[K]['responseDeserialize']>;

/** One helper call as the test made it: the op id it sent and the gRPC path it hit. */
export interface CallLog {
  opId: string;
  method: string;
  ok: boolean;
}

/** Why the privhelper daemon tests cannot run on this machine, or undefined. */
export async function helperUnavailableReason(opts: { qemu?: boolean } = {}): Promise<string | undefined> {
  const net = netnsUnavailableReason();
  if (net) return net;
  for (const tool of ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/resize2fs', '/usr/sbin/e2fsck']) {
    if (!(await access(tool).then(() => true, () => false))) return `${tool} missing (apt-get install qemu-utils e2fsprogs)`;
  }
  if (opts.qemu && !(await access('/usr/bin/qemu-system-x86_64').then(() => true, () => false))) return 'qemu-system-x86_64 missing (apt-get install qemu-system-x86)';
  return undefined;
}

/**
 * A real privhelper daemon (a child process we hold by PID) whose network verbs act inside a
 * throwaway namespace, plus a client that records the op id of every call so the test can
 * check the daemon's completion lines afterwards.
 */
export class HelperFixture {
  readonly calls: CallLog[] = [];
  /** Every privhelper process this fixture started, so logs survive a restart. */
  readonly daemons: RunningDaemon[] = [];
  readonly qemuPids = new Set<number>();
  client!: HelperClient;

  private constructor(
    readonly stack: Stack,
    readonly ns: Netns,
    readonly bridge: string,
    readonly cidr: string,
    readonly gatewayCidr: string,
  ) {}

  /**
   * `privhelper` lines land in the stack's [privhelper] table (the harness's extra config
   * follows it), `vm` lines in a [vm] table.
   */
  static async start(opts: { privhelper?: readonly string[]; vm?: readonly string[] } = {}): Promise<HelperFixture> {
    const ns = await Netns.create();
    const bridge = `bgr-t${randomBytes(3).toString('hex')}`;
    const cidr = '10.213.0.0/24';
    let stack: Stack | undefined;
    try {
      stack = await createStack({
        extraConfig: [
          ...(opts.privhelper ?? []),
          '[vm]',
          ...(opts.vm ?? []),
          '[network]',
          `netns = "${ns.name}"`,
          `cidr = "${cidr}"`,
          `bridge = "${bridge}"`,
          'tap_pool_size = 2',
        ].join('\n'),
      });
      const f = new HelperFixture(stack, ns, bridge, cidr, '10.213.0.1/24');
      await f.startDaemon();
      return f;
    } catch (err) {
      await stack?.close().catch(() => undefined);
      await ns.destroy().catch(() => undefined);
      throw err;
    }
  }

  get stateDir(): string {
    return `${this.stack.dir}/state`;
  }

  get runDir(): string {
    return `${this.stack.dir}/run`;
  }

  /** privhelper's own state root (`<state>/helper`): its image store, kernel store and VM disks. */
  get helperState(): string {
    return `${this.stateDir}/helper`;
  }

  /** Where privhelper keeps a VM's run files (`<run>/helper/vms/<id>`). */
  vmRunDir(vmId: string): string {
    return `${this.runDir}/helper/vms/${vmId}`;
  }

  /** An image in privhelper's store, as a finished BuildRootfs leaves one (written as root). */
  async putImage(id: string, opts: StoreImageOptions = {}): Promise<string> {
    return writeStoreImage(`${this.helperState}/images`, id, opts);
  }

  /** Stages the tiny guest where imaged pulls kernels and installs it with InstallKernel. */
  async installTinyKernel(): Promise<{ name: string; version: string }> {
    const staged = await stageTinyKernel(this.stateDir);
    const res = await this.call('installKernel', { kernel: staged.ref });
    if (res.kernel?.ref?.name !== staged.ref.name) throw new Error(`InstallKernel answered ${JSON.stringify(res)}`);
    return staged.ref;
  }

  get daemon(): RunningDaemon {
    const d = this.daemons.at(-1);
    if (!d) throw new Error('privhelper not started');
    return d;
  }

  async startDaemon(): Promise<RunningDaemon> {
    const d = await this.stack.start('privhelper');
    this.daemons.push(d);
    this.client = new ServiceClient(helperv2.HelperServiceService, this.stack.socket('privhelper'));
    return d;
  }

  /** SIGTERM to the daemon's PID, wait for exit, start a fresh one. */
  async restartDaemon(): Promise<{ exitCode: number | null }> {
    this.client.close();
    const exitCode = await this.stack.stop('privhelper');
    await this.startDaemon();
    return { exitCode };
  }

  alive(): boolean {
    const c = this.daemon.child;
    return c.exitCode === null && c.signalCode === null;
  }

  /** A unary call with a fresh op id, recorded for the completion-line check. */
  async call<K extends UnaryKey>(method: K, request: Req<K>, timeoutMs = 120_000): Promise<Res<K>> {
    const opId = mintOpId();
    const path = helperv2.HelperServiceService[method].path;
    try {
      const res = (await this.client.unary(method, request as never, { opId, timeoutMs })) as Res<K>;
      this.calls.push({ opId, method: path, ok: true });
      return res;
    } catch (err) {
      this.calls.push({ opId, method: path, ok: false });
      throw err;
    }
  }

  /** The call's error (an RpcError carrying the op id we sent), or a test failure if it succeeded. */
  async refused<K extends UnaryKey>(method: K, request: Req<K>): Promise<RpcError> {
    const out = await this.call(method, request).then(
      (res) => new Error(`${String(method)} unexpectedly succeeded: ${JSON.stringify(res)}`),
      (err: unknown) => err,
    );
    if (!(out instanceof RpcError)) throw out instanceof Error ? out : new Error(String(out));
    const sent = this.calls.at(-1)?.opId;
    if (out.opId !== sent || !OP_ID_PATTERN.test(out.opId ?? '')) throw new Error(`error op id ${String(out.opId)} is not the one sent (${String(sent)})`);
    return out;
  }

  /** Completion lines of every privhelper this fixture started. */
  completionLines(): LogRecord[] {
    return this.daemons.flatMap((d) => d.logs.filter((l) => /^helper rpc (completed|failed)$/.test(l.msg)));
  }

  /** Waits until every recorded call has its completion line (they arrive through a pipe). */
  async settleLogs(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = new Set(this.completionLines().map((l) => l.op_id));
      if (this.calls.every((c) => seen.has(c.opId)) || Date.now() > deadline) return;
      await sleep(50);
    }
  }

  /** Problems with the one-line-per-call rule, empty when every call has exactly one matching line. */
  async completionProblems(): Promise<string[]> {
    await this.settleLogs();
    const lines = this.completionLines();
    const problems: string[] = [];
    for (const c of this.calls) {
      const mine = lines.filter((l) => l.op_id === c.opId);
      if (mine.length !== 1) {
        problems.push(`${c.method} ${c.opId}: ${mine.length} completion lines`);
        continue;
      }
      const l = mine[0]!;
      if (l.method !== c.method) problems.push(`${c.opId}: line names ${String(l.method)}, call was ${c.method}`);
      if (typeof l.duration_ms !== 'number' || l.duration_ms < 0) problems.push(`${c.opId}: duration_ms ${String(l.duration_ms)}`);
      if ((l.msg === 'helper rpc completed') !== c.ok) problems.push(`${c.opId}: ${l.msg} but the call ${c.ok ? 'succeeded' : 'failed'}`);
    }
    return problems;
  }

  /** Stops the daemon (by PID), kills QEMU we started (by PID), deletes the netns and the stack dir. */
  async close(): Promise<void> {
    // Whatever the helper still runs is ours too, even a VM a test did not expect to start.
    const running = this.daemons.length > 0 && this.alive() ? await this.client?.unary('listHypervisors', {}, { timeoutMs: 5000 }).catch(() => undefined) : undefined;
    for (const p of running?.processes ?? []) this.qemuPids.add(p.pid);
    this.client?.close();
    const errors: unknown[] = [];
    for (const pid of this.qemuPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') errors.push(err);
      }
    }
    await this.stack.close().catch((e: unknown) => errors.push(e));
    await this.ns.destroy().catch((e: unknown) => errors.push(e));
    // Only removable when empty, so a real banger's VM cgroups are never touched.
    await rmdir('/sys/fs/cgroup/banger').catch(() => undefined);
    if (errors.length > 0) throw new AggregateError(errors, 'privhelper fixture cleanup failed');
  }
}

/** `nft -j list tables` inside the namespace, as "family name" strings. */
export async function nftTables(ns: Netns): Promise<string[]> {
  const out = await ns.must('nft', ['-j', 'list', 'tables']);
  const doc = JSON.parse(out) as { nftables: { table?: { family: string; name: string } }[] };
  return doc.nftables.flatMap((e) => (e.table ? [`${e.table.family} ${e.table.name}`] : []));
}

