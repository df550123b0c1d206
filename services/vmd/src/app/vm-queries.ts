import type { ListVmsFilter, VmRecord } from '@banger/store';

/** vmd's VM rows as the read-side use cases need them (VmStore implements it). */
export interface VmRepository {
  list(filter?: ListVmsFilter): Promise<VmRecord[]>;
  /** Name, id or unique id prefix; NOT_FOUND, or INVALID_ARGUMENT listing the matches when ambiguous. */
  findByRef(ref: string): Promise<VmRecord>;
  touch(id: string): Promise<void>;
  getById(id: string): Promise<VmRecord>;
}

/** Read-side VM use cases: listing, lookup by what a user typed, and marking a VM as used. */
export class VmQueries {
  constructor(private readonly vms: VmRepository) {}

  list(filter: ListVmsFilter = {}): Promise<VmRecord[]> {
    return this.vms.list(filter);
  }

  get(ref: string): Promise<VmRecord> {
    return this.vms.findByRef(ref);
  }

  /** Records that a user just used the VM (exec, ssh, TouchVm), for idle pruning later. */
  async touch(ref: string): Promise<VmRecord> {
    const vm = await this.vms.findByRef(ref);
    await this.vms.touch(vm.id);
    return this.vms.getById(vm.id);
  }
}
