import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../domain/kernel.js';
import type { KernelStaging, StagedEntry } from '../../ports/images.js';
import { sweepStagedKernels } from './sweep-staged-kernels.js';

class FakeStaging implements KernelStaging {
  constructor(public entries: StagedEntry[]) {}
  async list(): Promise<StagedEntry[]> {
    return [...this.entries];
  }
  async removeEntry(entry: StagedEntry): Promise<void> {
    this.entries = this.entries.filter((e) => e.dir !== entry.dir);
  }
}

const row = (dir: string): Kernel => ({ dir } as Kernel);

describe('sweepStagedKernels (imaged start-up)', () => {
  it('removes partial pulls and staged versions no row records, and keeps what a row points at', async () => {
    const staging = new FakeStaging([
      { name: 'cloud', dir: '/k/cloud/6.1.0-40', partial: false },
      { name: 'cloud', dir: '/k/cloud/6.1.0-39', partial: false },
      { name: 'cloud', dir: '/k/cloud/.pull-6.1.0-41-Ab12', partial: true },
    ]);
    const swept = await sweepStagedKernels({ kernels: { list: async () => [row('/k/cloud/6.1.0-40')] }, staging, log: pino({ level: 'silent' }) });
    expect(swept).toEqual({ partialPulls: ['/k/cloud/.pull-6.1.0-41-Ab12'], unrecorded: ['/k/cloud/6.1.0-39'] });
    expect(staging.entries.map((e) => e.dir)).toEqual(['/k/cloud/6.1.0-40']);
  });

  it('changes nothing when every staged version is recorded', async () => {
    const staging = new FakeStaging([{ name: 'cloud', dir: '/k/cloud/6.1.0-40', partial: false }]);
    expect(await sweepStagedKernels({ kernels: { list: async () => [row('/k/cloud/6.1.0-40')] }, staging, log: pino({ level: 'silent' }) })).toEqual({ partialPulls: [], unrecorded: [] });
    expect(staging.entries).toHaveLength(1);
  });
});
