import { isStoreError, type ListVmsFilter, type NewVm, type VmPatch, type VmRecord, type VmStore } from '@banger/store';
import type { VmWriter } from '../app/vm-writer.js';
import type { VmLookup } from '../app/vm-lifecycle.js';

/** VmStore as the lifecycle use cases see it. */
export class VmRepo implements VmWriter, VmLookup {
  constructor(private readonly store: VmStore) {}

  async findByName(name: string): Promise<VmRecord | undefined> {
    try {
      return await this.store.getByName(name);
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }

  usedIpv4(): Promise<string[]> {
    return this.store.usedIpv4();
  }

  insert(vm: NewVm): Promise<VmRecord> {
    return this.store.insert(vm);
  }

  update(id: string, patch: VmPatch): Promise<VmRecord> {
    return this.store.update(id, patch);
  }

  async delete(id: string): Promise<void> {
    await this.store.delete(id);
  }

  async dnsRecords(): Promise<{ name: string; ipv4: string }[]> {
    return (await this.store.list()).filter((v) => v.ipv4).map((v) => ({ name: v.name, ipv4: v.ipv4 ?? '' }));
  }

  findByRef(ref: string): Promise<VmRecord> {
    return this.store.findByRef(ref);
  }

  getById(id: string): Promise<VmRecord> {
    return this.store.getById(id);
  }

  list(filter: ListVmsFilter = {}): Promise<VmRecord[]> {
    return this.store.list(filter);
  }
}
