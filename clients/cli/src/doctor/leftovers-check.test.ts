import { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { leftoversResults } from './leftovers-check.js';

const MIB = 1 << 20;

describe('doctor leftovers and snapshot space', () => {
  it('names orphan snapshot files and abandoned rows with the command that clears them, and shows the space snapshots and saved states use', () => {
    const res = vmv1.CollectGarbageResponse.fromPartial({
      dryRun: true,
      helperReachable: true,
      snapshots: [
        { snapshotId: 'aa01', what: 'files', action: 'grace', graceLeftMs: 30_000, sizeBytes: 300 * MIB },
        { snapshotId: 'bb02', name: 'before', what: 'row', action: 'would_remove', detail: 'its operation op-dead is not running' },
        { snapshotId: 'cc03', what: 'partial', action: 'busy', detail: 'privhelper is writing it' },
      ],
      space: { snapshots: 3, snapshotBytes: 3 * 1024 * MIB, partialSnapshotBytes: 5 * MIB, savedStates: 1, savedStateBytes: 257 * MIB },
    });
    const [left, space] = leftoversResults(res);
    expect(left).toEqual({ name: 'leftovers', status: 'warn', detail: '2 to clean up: orphan snapshot files aa01 (300 MiB) (in grace 30s); snapshot before left creating by op-dead', fix: 'banger system gc' });
    expect(space).toEqual({ name: 'snapshot space', status: 'pass', detail: "3 snapshots use 3.0 GiB, 5 MiB in partial snapshots; 1 suspended VMs' saved states use 257 MiB" });
  });

  it('passes with nothing left, and says so when privhelper cannot be asked', () => {
    const clean = vmv1.CollectGarbageResponse.fromPartial({ helperReachable: true, space: { snapshots: 0 } });
    expect(leftoversResults(clean).map((r) => r.status)).toEqual(['pass', 'pass']);
    expect(leftoversResults(vmv1.CollectGarbageResponse.fromPartial({ helperReachable: false }))).toEqual([expect.objectContaining({ name: 'leftovers', status: 'warn', detail: 'privhelper unreachable: cannot list what it holds' })]);
  });
});
