import * as vmv1 from '@banger/api/vm';
import { mintOpId } from '@banger/runtime';
import { bool, requireStr, str, strs, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { syncFilesFor } from '../files/sync.js';
import { followOperation } from '../operation.js';
import { parseEgress } from '../parse/egress.js';
import { MIB, parseCount, parseSize } from '../parse/units.js';
import { vmReadySummary } from '../render/vm.js';
import type { ResultBody } from '../render/events.js';
import { createFromSnapshot } from './vm-create-from.js';

/** Prints the VM summary when a create/start/restart stream ends with the VM. */
export function printVmResult(ctx: CommandContext) {
  return (result: ResultBody, elapsedMs: number): void => {
    if (result.$case === 'vm') ctx.write(vmReadySummary(result.value as vmv1.Vm, elapsedMs));
  };
}

/** Cancels an operation on vmd (used by `--rm-on-detach` on Ctrl-C). */
export function cancelVmOperation(ctx: CommandContext) {
  return async (opId: string): Promise<void> => {
    await ctx.vmd().unary('cancelOperation', { opId }, ctx.callOptions({ timeoutMs: 10_000 }));
  };
}

export const vmCreateCommand: CommandSpec = {
  path: ['vm', 'create'],
  ownsInterrupt: true,
  summary: 'Create a VM and follow its stages live',
  usage: '--name NAME [--from SNAPSHOT | --image IMAGE] [--memory MIB] [--vcpus N] [--work-disk GIB] [--egress allow|deny|CIDR,HOST,...] [--sync HOST:GUEST]... [--no-wait] [--no-forward] [--cold] [--rm-on-detach]',
  description:
    'Ctrl-C detaches without cancelling and prints how to re-attach (banger vm watch OP_ID).\nWith --rm-on-detach, Ctrl-C (or a lost connection) cancels the create and rolls it back.\nThe config\'s [[file_sync]] files and each --sync HOST:GUEST are read here, as you, and written into\nthe guest once its agent answers (a "files" stage); a missing host file fails before anything is created.\nA matching warm snapshot (banger image warm IMAGE, same memory, vCPUs and work disk) is restored instead\nof booting; the "path" stage says which path the create took and why, --cold always boots.',
  options: {
    name: { type: 'string', value: 'NAME', description: 'VM name (DNS label; the VM answers as NAME.vm)' },
    from: { type: 'string', value: 'SNAPSHOT', description: "a clone of a snapshot (banger vm snapshot): its state restored, with the clone's own MAC, address, hostname, machine-id and SSH host keys" },
    image: { type: 'string', value: 'IMAGE', description: 'image name or id (default: the configured default image)' },
    kernel: { type: 'string', value: 'KERNEL', description: "kernel override (default: the image's kernel)" },
    memory: { type: 'string', value: 'MIB', description: 'guest memory; a bare number is MiB, or e.g. 2G' },
    vcpus: { type: 'string', value: 'N', description: 'virtual CPUs' },
    'work-disk': { type: 'string', value: 'GIB', description: 'work disk size; a bare number is GiB, or e.g. 512M' },
    'ssh-key': { type: 'string', multiple: true, value: 'PUBKEY', description: 'extra public key to authorise in the guest' },
    egress: { type: 'string', value: 'POLICY', description: 'allow (default: internet, no private/host/VM addresses), deny, or a CIDR,HOSTNAME list (see vm egress)' },
    'no-wait': { type: 'boolean', description: 'do not wait for the guest services to be ready' },
    'no-forward': { type: 'boolean', description: 'do not forward guest listeners to host loopback automatically (vm forward still works)' },
    'rm-on-detach': { type: 'boolean', description: 'cancel and roll back the create when detached (Ctrl-C)' },
    sync: { type: 'string', multiple: true, value: 'HOST:GUEST', description: 'copy a host file into the guest (besides the config\'s [[file_sync]])' },
    'no-file-sync': { type: 'boolean', description: "do not apply the config's [[file_sync]] entries" },
    cold: { type: 'boolean', description: 'boot the image even when a matching warm snapshot exists' },
  },
  async run(ctx, { values }) {
    const name = requireStr(values, 'name');
    const from = str(values, 'from');
    if (from !== undefined) return createFromSnapshot(ctx, values, from, name, bool(values, 'no-wait'));
    const memory = str(values, 'memory');
    const vcpus = str(values, 'vcpus');
    const workDisk = str(values, 'work-disk');
    const rm = bool(values, 'rm-on-detach');
    const egress = str(values, 'egress');
    const syncFiles = await syncFilesFor({ env: ctx.io.env, flags: strs(values, 'sync'), noConfig: bool(values, 'no-file-sync'), warn: (m) => ctx.warn(m) });
    const request = vmv1.CreateVmRequest.fromPartial({
      name,
      image: str(values, 'image') ?? '',
      kernel: str(values, 'kernel') ?? '',
      memoryMib: memory ? Math.round(parseSize('--memory', memory, 'm') / MIB) : 0,
      vcpus: vcpus ? parseCount('--vcpus', vcpus) : 0,
      workDiskSizeBytes: workDisk ? parseSize('--work-disk', workDisk, 'g') : 0,
      noWait: bool(values, 'no-wait'),
      ...(bool(values, 'no-forward') ? { autoForward: false } : {}),
      cancelOnDetach: rm,
      cold: bool(values, 'cold'),
      sshAuthorizedKeys: (values['ssh-key'] as string[] | undefined) ?? [],
      ...(egress === undefined ? {} : { egress: parseEgress('--egress', egress) }),
      syncFiles,
    });
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('createVm', request, { opId });
    return followOperation(ctx, stream, {
      opId,
      reattach: 'banger vm watch',
      onResult: printVmResult(ctx),
      ...(rm ? { cancelOnInterrupt: cancelVmOperation(ctx) } : {}),
    });
  },
};
