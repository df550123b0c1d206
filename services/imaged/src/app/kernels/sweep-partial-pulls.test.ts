import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { KernelStaging, StagedEntry } from '../../ports/images.js';
import { sweepPartialPulls } from './sweep-partial-pulls.js';

class FakeStaging implements KernelStaging {
  constructor(public entries: StagedEntry[]) {}
  async list(): Promise<StagedEntry[]> {
    return [...this.entries];
  }
  async removeEntry(entry: StagedEntry): Promise<void> {
    this.entries = this.entries.filter((e) => e.dir !== entry.dir);
  }
}

const log = pino({ level: 'silent' });

describe('sweepPartialPulls (imaged start-up)', () => {
  it("removes the work dirs of pulls a dead imaged left, and keeps every staged version", async () => {
    const staging = new FakeStaging([
      { name: 'cloud', dir: '/k/cloud/6.1.0-40', partial: false },
      { name: 'cloud', dir: '/k/cloud/6.1.0-39', partial: false },
      { name: 'cloud', dir: '/k/cloud/.pull-6.1.0-41-Ab12', partial: true },
    ]);
    expect(await sweepPartialPulls({ staging, log })).toEqual(['/k/cloud/.pull-6.1.0-41-Ab12']);
    expect(staging.entries.map((e) => e.dir)).toEqual(['/k/cloud/6.1.0-40', '/k/cloud/6.1.0-39']);
  });

  it('changes nothing when no pull was left half-way', async () => {
    const staging = new FakeStaging([{ name: 'cloud', dir: '/k/cloud/6.1.0-40', partial: false }]);
    expect(await sweepPartialPulls({ staging, log })).toEqual([]);
    expect(staging.entries).toHaveLength(1);
  });
});
