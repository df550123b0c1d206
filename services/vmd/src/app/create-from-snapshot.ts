import { AlreadyExistsError, FailedPreconditionError } from '@banger/runtime/errors';
import { failureEvent, StageFailure } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import { guestText } from '../domain/guest-values.js';
import { validateVmName } from '../domain/names.js';
import type { Snapshot } from '../domain/snapshot.js';
import { NO_FILES, vmToJson, type Vm } from '../domain/vm.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';
import type { OperationHandle } from '../ports/operation.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import { BootStages, type BootDeps } from './boot-stages.js';
import { specOf } from './create.js';
import { findSnapshot } from './find-snapshot.js';
import { launchInputFor } from './launch-input.js';
import { reserveVm } from './reserve-vm.js';
import { Rollback } from './rollback.js';
import type { VmLocks } from './vm-locks.js';

const GIB = 1024 ** 3;

export interface CreateVmFromSnapshotDeps extends BootDeps {
  images: ImageCatalog;
  locks: VmLocks;
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
}

/**
 * The clone's identity, set inside the restored guest through the agent: the restored NIC
 * still has the source's MAC and address, so both are replaced by the clone's (the ones its tap
 * is fenced to), then the hostname, a new machine-id and new SSH host keys. Values arrive as
 * positional arguments ($1..$5), never spliced into the script.
 */
const IDENTITY = [
  'set -eux',
  'dev=""; for d in /sys/class/net/*; do d=${d##*/}; [ "$d" = lo ] && continue; dev=$d; break; done',
  '[ -n "$dev" ]',
  'ip link set "$dev" down; ip link set "$dev" address "$1"; ip addr flush dev "$dev"; ip link set "$dev" up',
  'ip addr replace "$2" dev "$dev"; ip route replace default via "$3" dev "$dev"',
  'hostname "$4"; echo "$4" > /etc/hostname',
  'if grep -q "^127.0.1.1[[:space:]]" /etc/hosts; then sed -i "s/^127.0.1.1[[:space:]].*/127.0.1.1 $4/" /etc/hosts; else echo "127.0.1.1 $4" >> /etc/hosts; fi',
  'rm -f /etc/machine-id; if command -v systemd-machine-id-setup >/dev/null; then systemd-machine-id-setup >/dev/null 2>&1; else cat /proc/sys/kernel/random/uuid | tr -d - > /etc/machine-id; fi',
  // ed25519 and ecdsa only: an RSA host key takes minutes to generate under TCG.
  'if command -v ssh-keygen >/dev/null; then rm -f /etc/ssh/ssh_host_*; for t in ed25519 ecdsa; do ssh-keygen -q -t "$t" -N "" -f "/etc/ssh/ssh_host_${t}_key"; done; fi',
  '(timeout 10 systemctl try-reload-or-restart ssh || true) >/dev/null 2>&1 </dev/null',
].join('\n');

/**
 * CreateVmFromSnapshot: a new VM (a clone) from a snapshot, as stages: preflight → reserve →
 * network → disks (copies of the frozen ones) → restore (the snapshot's state, checked by
 * privhelper) → agent → identity → services. Every resource is recorded on the operation as it
 * is made and undone in reverse order on failure, as for a create.
 */
export class CreateVmFromSnapshot {
  constructor(private readonly deps: CreateVmFromSnapshotDeps) {}

  async run(cmd: { snapshot: string; name: string; noWait: boolean }, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { deps } = this;
    let vmId = '';
    const rollback = new Rollback(op, () => vmId);
    const stages = new BootStages(deps, op, 'vm_create', rollback);
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_create', target: cmd.name });
    try {
      const { snapshot, image } = await stages.run('preflight', 'snapshot ready, image resolvable, name free', () => this.preflight(cmd));
      const reserved = await stages.run('reserve', 'record the VM and allocate its address', async () => {
        const vm = await this.reserve(cmd.name, snapshot, image, op.opId);
        vmId = vm.id;
        await rollback.add('row', vm.id, () => this.dropRow(vm.id));
        return vm;
      });
      await deps.locks.with(reserved.id, 'create', async () => {
        let vm = await stages.network(reserved, { owned: true });
        vm = await stages.run('disks', `copies of snapshot ${snapshot.name}'s frozen disks`, async () => {
          const d = await deps.snapshotHost.createDisksFromSnapshot(vm.id, snapshot.id);
          await rollback.add('overlay', d.rootDisk, () => deps.host.removeRootOverlay({ vmId: vm.id, path: d.rootDisk }));
          if (d.workDisk !== '') await rollback.add('work_disk', d.workDisk, () => deps.host.removeWorkDisk({ vmId: vm.id, path: d.workDisk }));
          return deps.vms.update(vm.id, { files: { ...vm.files, rootDisk: d.rootDisk, workDisk: d.workDisk } });
        });
        vm = await stages.run('restore', `state of snapshot ${snapshot.name} (${snapshot.memoryMib} MiB)`, async () => {
          const p = await deps.snapshotHost.restoreSnapshot(launchInputFor(vm, deps.subnet, deps.sshPublicKey), snapshot.id);
          stages.consoleLog = p.consoleLog;
          await rollback.add('process', String(p.pid), async () => void (await deps.host.kill(vm.id)));
          return deps.vms.update(vm.id, { pid: p.pid, files: { ...vm.files, agentSocket: p.agentSocket, consoleLog: p.consoleLog } });
        });
        await stages.agent(vm, []);
        await stages.run('identity', `MAC ${vm.network.mac ?? ''}, ${vm.network.ipv4 ?? ''}, hostname ${vm.name}, machine-id, SSH host keys`, () => this.identity(vm));
        vm = await deps.vms.update(vm.id, { credentials: await stages.readSecrets(vm, vm.spec.services) });
        await stages.services(vm, { noWait: cmd.noWait });
        const ready = await deps.vms.transition(vm.id, 'running', { startedAt: new Date() });
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: vmToJson(ready) } });
      });
      return { targetId: vmId, vmId };
    } catch (err) {
      const stage = err instanceof StageFailure ? err.stage : '';
      const tail = ['restore', 'agent', 'identity', 'services'].includes(stage) ? await stages.consoleTail() : undefined;
      const rolledBack = await rollback.undo();
      await op.emit({ ...failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}), rolledBack: rolledBack.undone, leftovers: rolledBack.leftovers });
      throw err;
    }
  }

  private async preflight(cmd: { snapshot: string; name: string }): Promise<{ snapshot: Snapshot; image: ResolvedImage }> {
    const { vms, images, snapshots } = this.deps;
    const name = validateVmName(cmd.name, 'name');
    const snapshot = await findSnapshot(snapshots, cmd.snapshot, 'snapshot');
    if (snapshot.state !== 'ready') throw new FailedPreconditionError('SNAPSHOT_NOT_READY', `snapshot ${snapshot.name} is still being taken`, { fields: { snapshot: snapshot.name } });
    if ((await vms.findByName(name)) !== undefined) throw new AlreadyExistsError('vm', name, 'VM_NAME_TAKEN', { fields: { field: 'name' } });
    return { snapshot, image: await images.resolve(snapshot.imageId) };
  }

  private reserve(name: string, snapshot: Snapshot, image: ResolvedImage, opId: string): Promise<Vm> {
    const spec = specOf(image, { workDiskBytes: snapshot.workDiskGib * GIB, sshAuthorizedKeys: [], hypervisor: 'qemu', autoForward: true });
    return reserveVm(this.deps, {
      name,
      state: 'creating',
      vcpus: snapshot.vcpus,
      memoryMib: snapshot.memoryMib,
      spec,
      files: { ...NO_FILES },
      egress: { mode: 'allow', cidrs: [], hostnames: [] },
      credentials: [],
      createOpId: opId,
    });
  }

  private async identity(vm: Vm): Promise<void> {
    const { agent, subnet } = this.deps;
    const args = [vm.network.mac ?? '', `${vm.network.ipv4 ?? ''}/${subnet.prefix}`, subnet.gateway, vm.name];
    const res = await agent.exec(vm.files.agentSocket, ['/bin/sh', '-c', IDENTITY, 'identity', ...args], { timeoutMs: 120_000, maxOutputBytes: 64 * 1024, overflow: 'truncate' });
    if (res.exitCode !== 0 || res.timedOut) {
      const why = `${res.timedOut ? 'timed out' : `exit ${res.exitCode}`}: ${guestText(res.stderr).trim().slice(-400)}`;
      throw new FailedPreconditionError('CLONE_IDENTITY_FAILED', `the clone's identity could not be set in the guest (${why})`);
    }
  }

  private async dropRow(vmId: string): Promise<void> {
    await this.deps.host.releaseVm(vmId).catch((err: unknown) => log().warn({ err, vm_id: vmId }, 'could not release the VM in privhelper; the janitor removes what is left'));
    await this.deps.vms.delete(vmId);
  }
}
