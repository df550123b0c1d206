import { setTimeout as sleep } from 'node:timers/promises';
import { AlreadyExistsError, FailedPreconditionError, InternalError, failureEvent, log, StageFailure, StageRunner, type OpEventSink } from '@banger/runtime';
import type { JsonObject, VmRecord } from '@banger/store';
import type { Logger } from 'pino';
import { allocateAddress, macForVm, newVmId, type Subnet } from '../domain/addressing.js';
import type { CreateVmCommand } from '../domain/create-request.js';
import type { GuestAgent } from '../ports/agent.js';
import type { HostHelper } from '../ports/host.js';
import type { ImageCatalog, ImageService, ResolvedImage } from '../ports/images.js';
import { awaitAgent, awaitServices, consoleTail, type BootTimeouts } from './guest-boot.js';
import { launchInputFor } from './launch-input.js';
import { Rollback } from './rollback.js';
import type { VmLocks } from './vm-locks.js';
import type { VmWriter } from './vm-writer.js';

/** The parts of a running operation a use case may use (OperationRunner provides them). */
export interface OperationContext {
  readonly opId: string;
  readonly signal: AbortSignal;
  readonly emit: OpEventSink;
  recordResource(kind: string, ref: string, detail?: JsonObject): Promise<void>;
  releaseResource(kind: string, ref: string): Promise<void>;
}

export interface VmCreateDeps {
  vms: VmWriter;
  host: HostHelper;
  images: ImageCatalog;
  agent: GuestAgent;
  subnet: Subnet;
  bridge: string;
  sshPublicKey: string;
  timeouts: BootTimeouts;
  locks: VmLocks;
  logger: () => Logger;
  /** Test seam: the named stage fails after doing its work (see main.ts). */
  faultStage?: string;
}

const BOOT_STAGES = new Set(['boot', 'agent', 'services']);

/**
 * CreateVm as stages, each reported with its duration: preflight → reserve → network →
 * disks → boot → agent → services. Every host resource is recorded on the operation the
 * moment it exists and undone in reverse order if a later stage fails, so a failed create
 * leaves no tap, overlay, work disk, DNS record, process or row behind.
 */
export class VmCreate {
  constructor(private readonly deps: VmCreateDeps) {}

  async run(cmd: CreateVmCommand, op: OperationContext): Promise<JsonObject> {
    const { deps } = this;
    const stages = new StageRunner(async (e) => {
      if (e.type === 'stage_finished' && e.ok && e.stage === deps.faultStage) throw new InternalError(`injected fault in stage ${e.stage}`);
      await op.emit(e);
    });
    const rollback = new Rollback(op, deps.logger);
    let consoleLog = '';
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_create', target: cmd.name });
    try {
      const image = await stages.run('preflight', 'host capable, image resolvable, name free', async () => {
        // Three independent questions, asked at once; answered in order of what to fix first.
        const [host, taken, resolved] = await Promise.allSettled([deps.host.readiness(), deps.vms.findByName(cmd.name), deps.images.resolve(cmd.image)]);
        const ready = settledValue(host);
        if (ready.blockers.length > 0) {
          throw new FailedPreconditionError('HOST_NOT_READY', `host cannot run VMs: ${ready.blockers.map((b) => `${b.name}: ${b.detail} (fix: ${b.fix})`).join('; ')}`);
        }
        if (settledValue(taken)) throw new AlreadyExistsError('vm', cmd.name, 'VM_NAME_TAKEN', { fields: { field: 'name' } });
        return settledValue(resolved);
      });

      let vm = await stages.run('reserve', 'record the VM and allocate its address', async () => {
        const id = newVmId();
        const used = new Set(await deps.vms.usedIpv4());
        const row = await deps.vms.insert({
          id,
          name: cmd.name,
          state: 'creating',
          imageId: image.id,
          vcpus: cmd.vcpus,
          memoryMib: cmd.memoryMib,
          workDiskGib: Math.ceil(cmd.workDiskBytes / 1024 ** 3),
          spec: specOf(image, cmd),
          ipv4: allocateAddress(deps.subnet, used),
          mac: macForVm(id),
          createOpId: op.opId,
        });
        await rollback.add('row', id, () => deps.vms.delete(id));
        return row;
      });

      const reserved = vm;
      // Nothing else may touch this VM (delete, stop) until the create ends.
      await deps.locks.with(reserved.id, 'create', async () => {
        vm = await stages.run('network', `tap on ${deps.bridge}, ${vm.ipv4 ?? ''} as ${cmd.name}.vm`, async () => {
          await deps.host.ensureNetwork({ bridge: deps.bridge, cidr: deps.subnet.cidr, gateway: deps.subnet.gateway, prefix: deps.subnet.prefix });
          const tap = await deps.host.acquireTap(vm.id);
          await rollback.add('tap', tap, () => deps.host.releaseTap(vm.id));
          const updated = await deps.vms.update(vm.id, { tap });
          await deps.host.syncDns(await deps.vms.dnsRecords());
          await rollback.add('dns_record', cmd.name, async () => deps.host.syncDns((await deps.vms.dnsRecords()).filter((r) => r.name !== cmd.name)));
          return updated;
        });

        const disks = await stages.run('disks', 'copy-on-write root overlay and work disk', async () => {
          const [root, work] = await Promise.allSettled([
            deps.host.createRootOverlay(vm.id, image.storeImage),
            deps.host.createWorkDisk(vm.id, image.storeImage, cmd.workDiskBytes),
          ]);
          // Made side by side; whichever exists is recorded before a failure of the other is raised.
          if (root.status === 'fulfilled') await rollback.add('overlay', vm.id, () => deps.host.removeRootOverlay(vm.id));
          if (work.status === 'fulfilled') await rollback.add('work_disk', vm.id, () => deps.host.removeWorkDisk(vm.id));
          return { root: settledValue(root), work: settledValue(work) };
        });

        const proc = await stages.run('boot', `${cmd.vcpus} vCPU, ${cmd.memoryMib} MiB`, async () => {
          const p = await deps.host.launch(
            launchInputFor(
              vm,
              { kernel: image.kernel, initPath: image.initPath, kernelArgs: image.kernelArgs },
              deps.subnet,
              deps.sshPublicKey,
            ),
          );
          consoleLog = p.consoleLog;
          await rollback.add('process', String(p.pid), async () => void (await deps.host.kill(vm.id)));
          await deps.vms.update(vm.id, { pid: p.pid, runtime: { agentSocket: p.agentSocket, consoleLog: p.consoleLog, rootDisk: disks.root, workDisk: disks.work } });
          return p;
        });

        await awaitAgent(stages, deps.agent, proc.agentSocket, deps.timeouts, op.signal);
        const credentials = await readServiceSecrets(deps.agent, proc.agentSocket, image.services);
        vm = await deps.vms.update(vm.id, { spec: { ...vm.spec, credentials } });
        if (cmd.noWait) await stages.skip('services', 'skipped (--no-wait)');
        else await awaitServices(stages, deps.agent, proc.agentSocket, image.services, deps.timeouts, op.signal);

        const ready = await deps.vms.update(vm.id, { state: 'running', startedAt: new Date() });
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: serializeVm(ready) } });
      });
      return { targetId: vm.id, vmId: vm.id };
    } catch (err) {
      const rolledBack = await rollback.undo();
      const stage = err instanceof StageFailure ? err.stage : '';
      const tail = BOOT_STAGES.has(stage) && consoleLog ? await consoleTail(consoleLog) : undefined;
      await op.emit({ ...failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}), rolledBack: rolledBack.undone, leftovers: rolledBack.leftovers });
      throw err;
    }
  }
}

/**
 * Reads each service's per-VM secret through the agent. The guest writes it when the service
 * first starts, shortly after the agent comes up, so a missing file is retried for a while.
 */
export async function readServiceSecrets(agent: GuestAgent, socket: string, services: readonly ImageService[], waitMs = 30_000): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  const deadline = Date.now() + waitMs;
  for (const s of services.filter((x) => x.secretEnv)) {
    for (;;) {
      const file = await agent.readFile(socket, `/etc/banger/secrets/${s.name}`, { maxBytes: 4096 }).catch(() => undefined);
      const secret = file?.toString('utf8').trim() ?? '';
      if (secret) {
        out.push({ service: s.name, username: s.name, password: secret });
        break;
      }
      if (Date.now() > deadline) {
        log().warn({ service: s.name }, 'service secret not written by the guest yet; the VM has no stored credentials for it');
        break;
      }
      await sleep(250);
    }
  }
  return out;
}

/** The value of a settled promise, or its rejection thrown. */
function settledValue<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

function specOf(image: ResolvedImage, cmd: CreateVmCommand): JsonObject {
  return {
    imageName: image.name,
    imageFingerprint: image.fingerprint,
    workSeedFingerprint: image.workSeedFingerprint,
    workDiskBytes: cmd.workDiskBytes,
    kernelPath: image.kernelPath,
    initrdPath: image.initrdPath,
    kernel: { ...image.kernel },
    storeImage: image.storeImage,
    initPath: image.initPath,
    kernelArgs: [...image.kernelArgs],
    services: image.services.map((s) => ({ name: s.name, port: s.port, readiness: s.readiness, timeoutSeconds: s.timeoutSeconds, secretEnv: s.secretEnv })),
    credentials: [],
  };
}

/** A VM row as JSON for the operation's result event (dates as ISO strings). */
export function serializeVm(vm: VmRecord): JsonObject {
  return JSON.parse(JSON.stringify(vm)) as JsonObject;
}
