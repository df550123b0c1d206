import { AlreadyExistsError, FailedPreconditionError } from '@banger/runtime/errors';
import { failureEvent, StageFailure } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import type { CreateVmCommand } from '../domain/create-request.js';
import { NO_FILES, vmToJson, type Vm, type VmSpec } from '../domain/vm.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';
import type { OperationHandle } from '../ports/operation.js';
import { BootStages, settled, type BootDeps } from './boot-stages.js';
import { reserveVm } from './reserve-vm.js';
import { Rollback } from './rollback.js';
import { writeSyncFiles, type SyncDeps } from './sync-files.js';
import type { VmLocks } from './vm-locks.js';
import type { PathAnswers, WarmCreate } from './warm-create.js';

export interface CreateVmDeps extends BootDeps {
  images: ImageCatalog;
  locks: VmLocks;
  /** Where a create's sync files go in (the `vm cp` upload path). */
  files: SyncDeps['files'];
  /** Restores a matching warm snapshot instead of booting (docs/snapshots.md); absent, every create boots. */
  warm?: Pick<WarmCreate, 'attempt'>;
}

const BOOT_STAGES = new Set(['boot', 'agent', 'services']);

/** A settled answer as a promise again (undefined: not asked yet). */
function answered<T>(r: PromiseSettledResult<T> | undefined): Promise<T> | undefined {
  if (r === undefined) return undefined;
  return r.status === 'fulfilled' ? Promise.resolve(r.value) : Promise.reject(r.reason as Error);
}

/** A new VM's spec from its image and the create's command (a clone's too). */
export function specOf(image: ResolvedImage, cmd: Pick<CreateVmCommand, 'workDiskBytes' | 'sshAuthorizedKeys' | 'hypervisor' | 'autoForward' | 'sharedRam'>): VmSpec {
  return {
    image: { id: image.id, name: image.name, fingerprint: image.fingerprint },
    kernel: { ...image.kernel },
    boot: { storeKernel: { ...image.storeKernel }, kernelPath: image.kernelPath, initrdPath: image.initrdPath, initPath: image.initPath, kernelArgs: [...image.kernelArgs] },
    workDiskBytes: cmd.workDiskBytes,
    workSeedFingerprint: image.workSeedFingerprint,
    services: image.services.map((s) => ({ ...s })),
    sshAuthorizedKeys: [...cmd.sshAuthorizedKeys],
    sshHostKeys: [],
    hypervisor: cmd.hypervisor,
    forwards: { auto: cmd.autoForward, ports: [] },
    createPath: '',
    ...(cmd.sharedRam === true ? { sharedRam: true as const } : {}),
  };
}

/**
 * CreateVm as stages, each reported with its duration: path (warm restore or cold boot, see
 * WarmCreate) then, for a boot, preflight → reserve → network → disks → boot → agent → services. Every host resource is recorded on the operation the
 * moment it exists and undone in reverse order if a later stage fails, so a failed create
 * leaves no tap, overlay, work disk, DNS record, process or row behind.
 */
export class CreateVm {
  constructor(private readonly deps: CreateVmDeps) {}

  async run(cmd: CreateVmCommand, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { deps } = this;
    let vmId = '';
    const rollback = new Rollback(op, () => vmId);
    const stages = new BootStages(deps, op, 'vm_create', rollback);
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_create', target: cmd.name });
    let createPath = '';
    let answers: PathAnswers | undefined;
    if (deps.warm !== undefined) {
      const tried = await deps.warm.attempt(cmd, op);
      if (!('cold' in tried)) return tried;
      createPath = tried.cold;
      answers = tried.answers;
    }
    try {
      const image = await stages.run('preflight', 'host capable, image resolvable, name free', () => this.preflight(cmd, answers));
      const reserved = await stages.run('reserve', 'record the VM and allocate its address', async () => {
        const vm = await this.reserve(cmd, image, op.opId, createPath);
        vmId = vm.id;
        await rollback.add('row', vm.id, () => this.dropRow(vm.id));
        return vm;
      });
      // Nothing else may touch this VM (delete, stop) until the create ends.
      await deps.locks.with(reserved.id, 'create', async () => {
        let vm = await stages.network(reserved, { owned: true });
        vm = await stages.disks(vm, image);
        vm = await stages.boot(vm);
        await stages.agent(vm, cmd.sshAuthorizedKeys);
        vm = await deps.vms.update(vm.id, { credentials: await stages.readSecrets(vm, vm.spec.services) });
        const sync = cmd.syncFiles ?? [];
        if (sync.length > 0) {
          const synced = vm;
          await stages.run('files', `${sync.length} file(s) from the host: ${sync.map((f) => f.guestPath).join(', ')}`, () => writeSyncFiles(deps, synced, sync, { opId: op.opId, signal: op.signal }));
        }
        await stages.services(vm, { noWait: cmd.noWait });
        const ready = await deps.vms.transition(vm.id, 'running', { startedAt: new Date() });
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: vmToJson(ready) } });
      });
      return { targetId: vmId, vmId };
    } catch (err) {
      // The console tail is read before the rollback removes the run dir holding it.
      const stage = err instanceof StageFailure ? err.stage : '';
      const tail = BOOT_STAGES.has(stage) ? await stages.consoleTail() : undefined;
      const rolledBack = await rollback.undo();
      await op.emit({ ...failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}), rolledBack: rolledBack.undone, leftovers: rolledBack.leftovers });
      throw err;
    }
  }

  /**
   * Undoes the reservation. What privhelper still holds for the VM goes first: its run dir and
   * cgroups outlive a hypervisor that died on its own, and no other step records them. When
   * privhelper cannot be asked, the recorded steps' leftovers say what remains and the janitor
   * finds the run dir as an orphan, so the row still goes.
   */
  private async dropRow(vmId: string): Promise<void> {
    await this.deps.host.releaseVm(vmId).catch((err: unknown) => log().warn({ err, vm_id: vmId }, 'could not release the VM in privhelper; the janitor removes what is left'));
    await this.deps.vms.delete(vmId);
  }

  /**
   * Three independent questions, asked at once (the host and the image only when the path stage
   * has not just asked them); answered in order of what to fix first.
   */
  private async preflight(cmd: CreateVmCommand, answers: PathAnswers | undefined): Promise<ResolvedImage> {
    const { host, vms, images } = this.deps;
    const [ready, taken, resolved] = await Promise.allSettled([answered(answers?.readiness) ?? host.readiness(), vms.findByName(cmd.name), answered(answers?.image) ?? images.resolve(cmd.image, cmd.kernel)]);
    const readiness = settled(ready);
    if (readiness.blockers.length > 0) {
      throw new FailedPreconditionError('HOST_NOT_READY', `host cannot run VMs: ${readiness.blockers.map((b) => `${b.name}: ${b.detail} (fix: ${b.fix})`).join('; ')}`);
    }
    if (settled(taken)) throw new AlreadyExistsError('vm', cmd.name, 'VM_NAME_TAKEN', { fields: { field: 'name' } });
    return settled(resolved);
  }

  /** The VM's row with the lowest free address. */
  private reserve(cmd: CreateVmCommand, image: ResolvedImage, opId: string, createPath: string): Promise<Vm> {
    return reserveVm(this.deps, {
      name: cmd.name,
      state: 'creating',
      vcpus: cmd.vcpus,
      memoryMib: cmd.memoryMib,
      spec: { ...specOf(image, cmd), createPath },
      files: { ...NO_FILES },
      egress: cmd.egress,
      credentials: [],
      createOpId: opId,
    });
  }
}
