import * as vmv1 from '@banger/api/vm';

/** The fields an agent needs to pick a VM from a list. */
export function vmSummary(vm: vmv1.Vm): Record<string, unknown> {
  return {
    id: vm.id,
    name: vm.name,
    state: vmv1.vmStateToJSON(vm.state).replace(/^VM_STATE_/, '').toLowerCase(),
    image: vm.image?.name || vm.image?.id || '',
    ipv4: vm.network?.ipv4 ?? '',
    dnsName: vm.network?.dnsName ?? '',
    vcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    createdAt: vm.createdAt?.toISOString() ?? null,
  };
}

/** The whole VM as proto3 JSON (the same shape `banger vm show --json` prints). */
export function vmDetail(vm: vmv1.Vm): Record<string, unknown> {
  return vmv1.Vm.toJSON(vm) as Record<string, unknown>;
}
