// vmd with a stage gate wired in, for fault tests: the gate (from BANGER_TEST_STAGE_GATE, read
// here in the test harness, never by vmd itself) fails or holds the named stage of a create or
// start right after it did its work, so a test can watch rollback, or SIGKILL vmd at exactly
// that point and watch the next start-up clean up. `pause` holds until the `release` file
// exists, so a test can kill another daemon while the operation waits and then let it go on.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { log, UnavailableError } from '@banger/runtime';
import { runVmd, type StageGate } from '@banger/vmd';

interface GateSpec {
  stage: string;
  action: 'fail' | 'hold' | 'pause';
  /** Only operations of this kind (vm_create, vm_start); default any. */
  kind?: string;
  /** For `pause`: the operation goes on once this file exists. */
  release?: string;
}

const spec = JSON.parse(process.env['BANGER_TEST_STAGE_GATE'] ?? '{}') as Partial<GateSpec>;

const gate: StageGate = {
  async passed(point) {
    if (point.stage !== spec.stage || (spec.kind && point.kind !== spec.kind)) return;
    if (spec.action === 'fail') throw new UnavailableError('INJECTED_FAULT', `injected fault after stage ${point.stage}`);
    log().warn({ stage: point.stage, kind: point.kind }, 'stage gate holding');
    if (spec.action === 'pause' && spec.release) {
      const release = spec.release;
      while (!existsSync(release)) await sleep(100);
      log().warn({ stage: point.stage, kind: point.kind }, 'stage gate released');
      return;
    }
    await new Promise<never>(() => undefined);
  },
};

await runVmd({ stageGate: gate });
