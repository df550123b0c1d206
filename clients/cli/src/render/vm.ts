import { formatEgress } from '../parse/egress.js';
import * as vmv1 from '@banger/api/vm';
import { enumLabel, formatAge, formatBytes, formatDuration, formatTime } from './format.js';
import { renderFields } from './table.js';

export function vmState(vm: vmv1.Vm): string {
  return enumLabel(vmv1.vmStateToJSON(vm.state), 'VM_STATE_');
}

export function vmImage(vm: vmv1.Vm): string {
  return vm.image?.name || vm.image?.id || '-';
}

export const VM_TABLE_HEADERS = ['NAME', 'STATE', 'IP', 'IMAGE', 'AGE', 'UPTIME'] as const;

export function vmRow(vm: vmv1.Vm, now: Date): string[] {
  const running = vm.state === vmv1.VmState.VM_STATE_RUNNING;
  return [vm.name, vmState(vm), vm.network?.ipv4 || '-', vmImage(vm), formatAge(vm.createdAt, now), running ? formatAge(vm.startedAt, now) : '-'];
}

/** `ssh …` as the user would type it: the daemon's ready-made argv, else banger's own. */
export function sshHint(vm: vmv1.Vm): string {
  if (vm.ssh && vm.ssh.command.length > 0) return vm.ssh.command.join(' ');
  return `banger vm ssh ${vm.name}`;
}

function serviceLines(vm: vmv1.Vm): string[] {
  return vm.services.map((s) => `${s.name.padEnd(10)} ${s.url || `:${s.port}`}  ${s.ready ? 'ready' : 'not ready'}`);
}

/** The summary printed when a create/start stream ends with the VM. */
export function vmReadySummary(vm: vmv1.Vm, elapsedMs: number): string {
  const head = `vm ${vm.name} ${vmState(vm)} in ${formatDuration(elapsedMs)}\n`;
  const body = renderFields(
    [
      ['name', vm.name],
      ['ip', vm.network?.ipv4],
      ['dns', vm.network?.dnsName],
      ['ssh', sshHint(vm)],
      ['op', vm.createOpId],
    ],
    '  ',
  );
  const services = serviceLines(vm);
  return head + body + (services.length > 0 ? `  services\n${services.map((l) => `    ${l}\n`).join('')}` : '');
}

/**
 * One line of what the host kernel says about the VM's QEMU: `uid 2000000001, seccomp filter,
 * no caps, no_new_privs, own mnt,net,ipc,uts, 512 MiB / 256 pids / cpu 1024`, and any layer the
 * host config let it run without.
 */
export function jailSummary(j: vmv1.VmJail): string {
  const parts = [`uid ${j.uid}`];
  parts.push(j.seccompMode === 2 ? 'seccomp filter' : `seccomp mode ${j.seccompMode}`);
  parts.push(/^0+$/.test(j.capEff) ? 'no caps' : `caps ${j.capEff}`);
  if (j.noNewPrivs) parts.push('no_new_privs');
  if (j.ownNamespaces.length > 0) parts.push(`own ${j.ownNamespaces.join(',')}`);
  if (j.memoryLimitBytes > 0) parts.push(`${Math.round(j.memoryLimitBytes / 1024 / 1024)} MiB / ${j.pidsMax} pids / cpu ${j.cpuWeight}`);
  if (j.layersSkipped.length > 0) parts.push(`WITHOUT ${j.layersSkipped.join(',')}`);
  return parts.join(', ');
}

/** One forward as the user reads it: `127.0.0.1:4096 -> guest 4096 (auto)`. */
export function forwardLine(f: vmv1.PortForward): string {
  const tags = [f.auto ? 'auto' : '', f.problem ? `not listening: ${f.problem}` : ''].filter(Boolean);
  return `${f.hostAddress}:${f.hostPort} -> guest ${f.guestPort}${tags.length ? ` (${tags.join('; ')})` : ''}`;
}

/** `vm show`: every field a user may want, empty ones left out; `knownHosts` is the user's banger known_hosts. */
export function vmDetails(vm: vmv1.Vm, opts: { knownHosts?: string } = {}): string {
  const img = vm.image ? `${vm.image.name || vm.image.id}${vm.image.fingerprint ? ` (${vm.image.fingerprint.slice(0, 12)})` : ''}` : undefined;
  let out = renderFields([
    ['id', vm.id],
    ['name', vm.name],
    ['state', vmState(vm)],
    ['image', img],
    ['kernel', vm.kernel],
    ['vcpus', vm.vcpus ? String(vm.vcpus) : undefined],
    ['memory', vm.memoryMib ? `${vm.memoryMib} MiB` : undefined],
    ['root disk', vm.rootDiskSizeBytes ? formatBytes(vm.rootDiskSizeBytes) : undefined],
    ['work disk', vm.workDiskSizeBytes ? formatBytes(vm.workDiskSizeBytes) : undefined],
    ['ip', vm.network ? `${vm.network.ipv4}${vm.network.prefixLength ? `/${vm.network.prefixLength}` : ''}` : undefined],
    ['dns', vm.network?.dnsName],
    ['gateway', vm.network?.gateway],
    ['mac', vm.network?.mac],
    ['tap', vm.network?.tap],
    ['egress', formatEgress(vm.egress)],
    ['hypervisor', enumLabel(vmv1.hypervisorToJSON(vm.hypervisor), 'HYPERVISOR_')],
    ['accel', enumLabel(vmv1.accelToJSON(vm.accel), 'ACCEL_')],
    ['pid', vm.pid ? String(vm.pid) : undefined],
    ['created', formatTime(vm.createdAt)],
    ['started', formatTime(vm.startedAt)],
    ['stopped', formatTime(vm.stoppedAt)],
    ['last used', formatTime(vm.lastUsedAt)],
    ['ssh', vm.ssh ? sshHint(vm) : undefined],
    ['known_hosts', vm.ssh && opts.knownHosts ? opts.knownHosts : undefined],
    ['forwarding', vm.id ? (vm.autoForward ? 'guest listeners forwarded to 127.0.0.1 automatically' : 'manual only') : undefined],
    ['create op', vm.createOpId],
    ['created by', vm.createPath],
    ['last error', vm.lastError ? `${vm.lastError.reason}: ${vm.lastError.message}${vm.lastError.opId ? ` (${vm.lastError.opId})` : ''}` : undefined],
    ['jail', vm.jail ? jailSummary(vm.jail) : undefined],
  ]);
  const services = serviceLines(vm);
  if (services.length > 0) out += `services\n${services.map((l) => `  ${l}\n`).join('')}`;
  if (vm.forwards.length > 0) out += `forwards\n${vm.forwards.map((f) => `  ${forwardLine(f)}\n`).join('')}`;
  if (vm.credentials.length > 0) out += `credentials\n${vm.credentials.map((c) => `  ${c.service.padEnd(10)} ${c.username}:${c.password}\n`).join('')}`;
  return out;
}
