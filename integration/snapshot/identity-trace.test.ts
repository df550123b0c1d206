import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/daemons.js';
import { vmUnsupportedReason, type VmStack } from '../vm/vmstack.js';
import { stackWithDebianVm } from './debian-source.js';

/*
 * The clone identity stage traced (docs/snapshots.md, "Identity stage: traced"): three clones of
 * one Debian snapshot, each create's stage timings and vmd's `clone identity set` log line (the
 * guest script's step times). A measurement, not a check, and a Debian boot: not in CI, run with
 * BANGER_IDENTITY_TRACE=1.
 */
const skip = vmUnsupportedReason() ?? (process.env.BANGER_IDENTITY_TRACE === '1' ? undefined : 'set BANGER_IDENTITY_TRACE=1');

describe.skipIf(skip !== undefined)('identity trace', () => {
  let s: VmStack;
  beforeAll(async () => {
    ({ s } = await stackWithDebianVm('src'));
  }, 1_900_000);
  afterAll(async () => s?.close());

  it('traces', async () => {
    const snap = await runCli(s.stack, ['vm', 'snapshot', 'src', '--as', 'first'], 300_000);
    expect(snap.code, snap.stderr).toBe(0);
    for (const name of ['c1', 'c2', 'c3']) {
      const t = Date.now();
      const res = await runCli(s.stack, ['--json', 'vm', 'create', '--from', 'first', '--name', name, '--no-wait'], 600_000);
      expect(res.code, res.stderr + res.stdout).toBe(0);
      const stages = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stageFinished?: { stage: string; durationMs?: string } }).filter((e) => e.stageFinished).map((e) => `${e.stageFinished!.stage} ${e.stageFinished!.durationMs ?? 0}`);
      const steps = Object.values(s.stack.daemons).flatMap((d) => d?.logs ?? []).filter((l) => l.msg === 'clone identity set').at(-1);
      console.log(`[trace] ${name} total ${Date.now() - t} ms; stages: ${stages.join(', ')}; identity: ${JSON.stringify(steps)}`);
      const del = await runCli(s.stack, ['vm', 'delete', name]);
      expect(del.code, del.stderr).toBe(0);
    }
  }, 1_200_000);
});
