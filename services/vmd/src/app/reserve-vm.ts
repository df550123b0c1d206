import { BangerError } from '@banger/runtime/errors';
import { allocateAddress, macForVm, newVmId, type Subnet } from '../domain/addressing.js';
import type { NewVm, Vm } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';

/** Racing creates may pick the same free address; the loser picks again this many times. */
const ADDRESS_ATTEMPTS = 8;

/** Records a new VM with a fresh id, its MAC and the lowest free address; an address taken by a racing create is skipped. */
export async function reserveVm(deps: { vms: VmRepository; subnet: Subnet }, row: Omit<NewVm, 'id' | 'network'>): Promise<Vm> {
  const { vms, subnet } = deps;
  const used = new Set(await vms.usedIpv4());
  for (let attempt = 1; ; attempt++) {
    const id = newVmId();
    const ipv4 = allocateAddress(subnet, used);
    try {
      return await vms.insert({ ...row, id, network: { ipv4, mac: macForVm(id), tap: null } });
    } catch (err) {
      if (!(err instanceof BangerError && err.reason === 'VM_IPV4_TAKEN') || attempt >= ADDRESS_ATTEMPTS) throw err;
      used.add(ipv4);
    }
  }
}
