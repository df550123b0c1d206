import { validateRef } from '@banger/runtime/ids';
import { IMAGE_REF_RULE } from '../domain/refs.js';
import type { Vm, VmState } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';

export interface ListVmsCommand {
  states: readonly VmState[];
  /** Image name or id; '' for all. */
  image: string;
}

/** ListVms: VMs, by name, optionally only in some states or from one image (its name or id). */
export class ListVms {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'list'> }) {}

  async run(cmd: ListVmsCommand): Promise<Vm[]> {
    const image = validateRef(cmd.image, 'image', IMAGE_REF_RULE, { allowEmpty: true });
    return this.deps.vms.list({ ...(cmd.states.length > 0 ? { states: cmd.states } : {}), ...(image ? { image } : {}) });
  }
}
