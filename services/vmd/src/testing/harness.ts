import { StageFailure, toBangerError, type BangerError } from '@banger/runtime';
import type { Operation, OperationResource } from '@banger/store';
import { CollectGarbage } from '../app/collect-garbage.js';
import { CreateVm } from '../app/create.js';
import { DeleteVm } from '../app/delete.js';
import { GetVm } from '../app/get.js';
import { Reconcile, type ReconcileReport } from '../app/reconcile.js';
import { StartVm } from '../app/start.js';
import { PauseVm } from '../app/pause.js';
import { ResumeVm } from '../app/resume.js';
import { SuspendVm } from '../app/suspend.js';
import { StopVm } from '../app/stop.js';
import { VmLocks } from '../app/vm-locks.js';
import { SetVmEgress } from '../app/set-egress.js';
import type { EgressPolicy } from '../domain/egress.js';
import { parseSubnet } from '../domain/addressing.js';
import type { CreateVmCommand } from '../domain/create-request.js';
import type { Vm } from '../domain/vm.js';
import type { VmJail } from '../ports/host.js';
import { noStageGate, type StageGate } from '../ports/operation.js';
import { MemoryConsoleLogs } from './memory-console-logs.js';
import { FakeAgent, FakeFiles, FakeHost, FakeImages, MemoryVms, RecordingOperation } from './fakes.js';
import { MemorySnapshots } from './snapshot-fakes.js';

/** What a test sees of a VM: the fields the lifecycle is about, independent of how rows are typed. */
export interface VmView {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  tap: string | null;
  ipv4: string | null;
}

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
export function vmdHarness(opts: { serviceMs?: number; gate?: StageGate } = {}) {
  const host = new FakeHost();
  const agent = new FakeAgent();
  const images = new FakeImages();
  const files = new FakeFiles();
  const rows = new MemoryVms();
  const locks = new VmLocks();
  const subnet = parseSubnet('172.30.0.0/24');
  const deps = {
    vms: rows,
    host,
    agent,
    consoleLogs: new MemoryConsoleLogs(),
    bridge: 'br-test',
    subnet,
    sshPublicKey: 'ssh-ed25519 AAAAbanger banger',
    timeouts: { agentMs: 1000, serviceMs: opts.serviceMs ?? 5000 },
    gate: opts.gate ?? noStageGate,
    images,
    locks,
    files,
  };
  const createVm = new CreateVm(deps);
  const startVm = new StartVm(deps);
  const stopVm = new StopVm(deps);
  const deleteVm = new DeleteVm(deps);
  const getVm = new GetVm(deps);
  const pauseVm = new PauseVm(deps);
  const resumeVm = new ResumeVm(deps);
  const suspendVm = new SuspendVm(deps);
  const view = (v: Vm): VmView => ({ id: v.id, name: v.name, state: v.state, pid: v.pid, tap: v.network.tap, ipv4: v.network.ipv4 });
  const full = (cmd: Partial<CreateVmCommand> & { name: string }): CreateVmCommand => ({
    image: '',
    kernel: '',
    memoryMib: 512,
    vcpus: 1,
    workDiskBytes: 2 * 1024 ** 3,
    noWait: false,
    egress: { mode: 'allow', cidrs: [], hostnames: [] },
    sshAuthorizedKeys: [],
    hypervisor: 'qemu',
    autoForward: true,
    ...cmd,
  });

  return {
    host,
    agent,
    files,
    images,
    rows,
    subnet,

    /** Runs CreateVm to its end; the error (if any) is returned, the events are on `op`. */
    async create(cmd: Partial<CreateVmCommand> & { name: string }, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      try {
        await createVm.run(full(cmd), op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async start(ref: string, opt: { noWait?: boolean } = {}, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      try {
        await startVm.run({ ref, noWait: opt.noWait ?? false }, op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async pause(ref: string): Promise<VmView> {
      return view(await asClientSees(pauseVm.run({ ref })));
    },

    async resume(ref: string, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      try {
        await resumeVm.run({ ref, noWait: false }, op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async suspend(ref: string, op = new RecordingOperation()): Promise<{ op: RecordingOperation; error: unknown }> {
      try {
        await suspendVm.run({ ref }, op);
        return { op, error: undefined };
      } catch (error) {
        return { op, error: clientError(error) };
      }
    },

    async stop(ref: string, timeoutMs = 30_000): Promise<{ vm: VmView; forced: boolean }> {
      const { vm, forced } = await asClientSees(stopVm.run({ ref, timeoutMs }));
      return { vm: view(vm), forced };
    },

    async delete(ref: string, opt: { force?: boolean } = {}): Promise<{ vm: VmView }> {
      return { vm: view(await asClientSees(deleteVm.run({ ref, stopTimeoutMs: opt.force ? 0 : 30_000 }))) };
    },

    /** GetVm as the handler runs it: the stored VM and, while it runs, its live jail. */
    async get(ref: string): Promise<{ vm: VmView; jail: VmJail | undefined }> {
      const { vm, jail } = await asClientSees(getVm.run({ ref }));
      return { vm: view(vm), jail };
    },

    /** `banger system gc` over these fakes and an operation log holding `ops`. */
    collector(ops: Operation[], opts: { graceMs?: number; now?: () => number; snapshots?: MemorySnapshots } = {}): CollectGarbage {
      const operations = {
        list: async (f: { state?: string | readonly string[] } = {}) => ops.filter((o) => f.state === undefined || (typeof f.state === 'string' ? o.state === f.state : f.state.includes(o.state))),
        releaseResource: async (opId: string, kind: string, ref: string) => {
          const op = ops.find((o) => o.opId === opId);
          if (op) op.resources = op.resources.filter((r) => !(r.kind === kind && r.ref === ref));
        },
      };
      const snapshotHost = { deleteSnapshot: async (id: string) => host.heldSnapshots.delete(id) };
      const snapshots = opts.snapshots ?? new MemorySnapshots(rows);
      return new CollectGarbage({ vms: rows, host, operations, locks, snapshots, snapshotHost, graceMs: opts.graceMs ?? 120_000, ...(opts.now ? { now: opts.now } : {}) });
    },

    async setEgress(ref: string, egress: EgressPolicy): Promise<{ vm: Vm; applied: boolean }> {
      return asClientSees(new SetVmEgress({ vms: rows, host, locks }).run({ ref, egress }));
    },

    async reconcile(interrupted: Operation[] = []): Promise<ReconcileReport> {
      return new Reconcile({ vms: rows, host }).run(interrupted);
    },

    vms(): VmView[] {
      return [...rows.rows.values()].map(view);
    },

    vm(name: string): VmView | undefined {
      return this.vms().find((v) => v.name === name);
    },

    /** The whole domain VM, for tests about what it keeps. */
    entity(name: string): Vm | undefined {
      return [...rows.rows.values()].find((v) => v.name === name);
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
