import { validateVmRef } from '../domain/refs.js';
import type { Vm } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';

/** The VM a user named (name, id or id prefix), the reference checked before it reaches a query. */
export async function findVm(vms: Pick<VmRepository, 'findByRef'>, ref: string, field = 'ref'): Promise<Vm> {
  return vms.findByRef(validateVmRef(ref, field));
}
