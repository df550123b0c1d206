// vmd with a stage gate wired in, for fault tests: the gate (from BANGER_TEST_STAGE_GATE, read
// here in the test harness, never by vmd itself) fails or holds the named stage of a create or
// start right after it did its work, so a test can watch rollback, or SIGKILL vmd at exactly
// that point and watch the next start-up clean up.
import { log, UnavailableError } from '@banger/runtime';
import { runVmd, type StageGate } from '@banger/vmd';

interface GateSpec {
  stage: string;
  action: 'fail' | 'hold';
  /** Only operations of this kind (vm_create, vm_start); default any. */
  kind?: string;
}

const spec = JSON.parse(process.env['BANGER_TEST_STAGE_GATE'] ?? '{}') as Partial<GateSpec>;

const gate: StageGate = {
  async passed(point) {
    if (point.stage !== spec.stage || (spec.kind && point.kind !== spec.kind)) return;
    if (spec.action === 'fail') throw new UnavailableError('INJECTED_FAULT', `injected fault after stage ${point.stage}`);
    log().warn({ stage: point.stage, kind: point.kind }, 'stage gate holding');
    await new Promise<never>(() => undefined);
  },
};

await runVmd({ stageGate: gate });
