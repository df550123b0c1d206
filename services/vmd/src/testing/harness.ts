import type { Operation, OperationResource } from '@banger/store';
import { StageFailure, toBangerError, type BangerError } from '@banger/runtime';
import { pino } from 'pino';
import { reconcile, type ReconcileReport } from '../app/reconcile.js';
import { VmCreate } from '../app/vm-create.js';
import { VmLifecycle } from '../app/vm-lifecycle.js';
import { VmLocks } from '../app/vm-locks.js';
import { parseSubnet } from '../domain/addressing.js';
import type { CreateVmCommand } from '../domain/create-request.js';
import { FakeAgent, FakeHost, FakeImages, MemoryVmRows, RecordingOperation } from './fakes.js';

/** What a test sees of a VM: the fields the lifecycle is about, independent of how rows are typed. */
export interface VmView {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  tap: string | null;
  ipv4: string | null;
}

const silent = pino({ level: 'silent' });

/** The error as a client would be given it (code, reason, fields): a failed stage's own error, not the stage wrapper. */
function clientError(err: unknown): BangerError {
  return toBangerError(err instanceof StageFailure ? err.error : err);
}

async function asClientSees<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw clientError(err);
  }
}

/**
 * vmd's lifecycle use cases wired to fakes of vmd's own ports (privhelper, imaged, the guest
 * agent, the VM rows, the operation), behind one small surface. The use-case tests talk to
 * this surface only, so they state behaviour, not wiring, and keep checking that behaviour
 * while the code behind it moves.
 */
export function vmdHarness(opts: { serviceMs?: number } = {}) {
  const host = new FakeHost();
  const agent = new FakeAgent();
  const images = new FakeImages();
  const rows = new MemoryVmRows();
  const locks = new VmLocks();
  const subnet = parseSubnet('172.30.0.0/24');
  const common = {
    vms: rows,
    host,
    agent,
    subnet,
    bridge: 'br-test',
    sshPublicKey: 'ssh-ed25519 AAAAbanger banger',
    timeouts: { agentMs: 1000, serviceMs: opts.serviceMs ?? 5000 },
    logger: () => silent,
  };
  const vmCreate = new VmCreate({ ...common, images, locks });
  const lifecycle = new VmLifecycle({ ...common, locks });
  const view = (v: { id: string; name: string; state: string; pid: number | null; tap: string | null; ipv4: string | null }): VmView => ({
    id: v.id,
    name: v.name,
    state: v.state,
    pid: v.pid,
    tap: v.tap,
    ipv4: v.ipv4,
  });

  return {
    host,
    agent,
    images,
    rows,
    subnet,

    /** Runs CreateVm to its end; the error (if any) is returned, the events are on `op`. */
    async create(cmd: Partial<CreateVmCommand> & { name: string }, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      const full: CreateVmCommand = { image: '', memoryMib: 512, vcpus: 1, workDiskBytes: 2 * 1024 ** 3, noWait: false, ...cmd };
      try {
        await vmCreate.run(full, op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async start(ref: string, opt: { noWait?: boolean } = {}, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      try {
        await lifecycle.start(ref, opt.noWait ?? false, op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async stop(ref: string, timeoutMs = 30_000): Promise<{ vm: VmView }> {
      return { vm: view(await asClientSees(lifecycle.stop(ref, timeoutMs))) };
    },

    async delete(ref: string, opt: { force?: boolean } = {}): Promise<{ vm: VmView }> {
      return { vm: view(await asClientSees(lifecycle.delete(ref, { stopTimeoutMs: opt.force ? 1 : 30_000 }))) };
    },

    async reconcile(interrupted: Operation[] = []): Promise<ReconcileReport> {
      return reconcile({ vms: rows, host, logger: silent }, interrupted);
    },

    vms(): VmView[] {
      return [...rows.rows.values()].map(view);
    },

    vm(name: string): VmView | undefined {
      return this.vms().find((v) => v.name === name);
    },

    /** The boot files and command line the last launch was given. */
    lastLaunch() {
      return host.launches.at(-1);
    },
  };
}

export type VmdHarness = ReturnType<typeof vmdHarness>;

/** An operation a previous vmd left running, as start-up recovery hands it over. */
export function interruptedOp(resources: OperationResource[], over: Partial<Operation> = {}): Operation {
  const now = new Date();
  return {
    opId: 'op-interrupted0',
    kind: 'vm_create',
    target: 'crashed',
    state: 'failed',
    error: { reason: 'INTERRUPTED', message: 'interrupted' },
    result: null,
    resources,
    lastSeq: 3,
    createdAt: now,
    updatedAt: now,
    finishedAt: now,
    ...over,
  };
}
