import { commonv1, vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { Capture } from '../test-support.js';
import { EventRenderer, type ResultBody, type StreamEvent } from './events.js';
import { makeStyle } from './output.js';

const OP = 'op-abcdefghijkl';
let seq = 0;
const ev = (body: StreamEvent['body']): StreamEvent => ({ opId: OP, seq: ++seq, time: new Date(1_000_000 + seq * 100), body });

function script(): StreamEvent[] {
  seq = 0;
  return [
    ev({ $case: 'accepted', value: { opId: OP, kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE, target: 'dev', targetId: '' } }),
    ev({ $case: 'stageStarted', value: { stage: 'validate', description: 'Checking the request', startedAt: undefined } }),
    ev({ $case: 'stageFinished', value: { stage: 'validate', durationMs: 12, ok: true, skipped: false, message: '' } }),
    ev({ $case: 'stageStarted', value: { stage: 'network', description: 'Creating tap', startedAt: undefined } }),
    ev({ $case: 'progress', value: { stage: 'network', done: 1, total: 2, unit: 'steps', message: '' } }),
    ev({ $case: 'progress', value: { stage: 'network', done: 1, total: 2, unit: 'steps', message: '' } }),
    ev({ $case: 'logLine', value: { stage: 'network', stream: commonv1.LogStream.LOG_STREAM_INFO, line: 'tap bt3 from pool' } }),
    ev({ $case: 'stageFinished', value: { stage: 'network', durationMs: 400, ok: true, skipped: false, message: 'tap bt3 acquired' } }),
    ev({ $case: 'stageFinished', value: { stage: 'disks', durationMs: 0, ok: true, skipped: true, message: '' } }),
  ];
}

function renderer(out: Capture, live: boolean, results: ResultBody[] = []) {
  let t = 0;
  return new EventRenderer({ out, style: makeStyle(false), live, animate: false, now: () => (t += 100), onResult: (r) => results.push(r) });
}

describe('EventRenderer (plain lines)', () => {
  it('prints the op id line, stage lines with durations, throttled progress, logs and the result', () => {
    const out = new Capture();
    const results: ResultBody[] = [];
    const r = renderer(out, false, results);
    for (const e of script()) r.handle(e);
    const vm = vmv1.Vm.fromPartial({ name: 'dev', state: vmv1.VmState.VM_STATE_RUNNING });
    r.handle(ev({ $case: 'vm', value: vm }));
    r.close();
    expect(out.lines).toEqual([
      `${OP} creating vm dev`,
      '· validate   Checking the request',
      '✓ validate     12ms',
      '· network    Creating tap',
      '  network: 50% (1/2)',
      '  │ tap bt3 from pool',
      '✓ network      0.4s  tap bt3 acquired',
      '- disks      skipped',
    ]);
    expect(results).toEqual([{ $case: 'vm', value: vm }]);
    expect(r.finished).toBe(true);
    expect(out.text).not.toContain('\r');
  });

  it('prints a failure with stage, reason, op id, console tail, rollback and leftovers', () => {
    const out = new Capture();
    const r = renderer(out, false);
    seq = 0;
    r.handle(ev({ $case: 'stageFinished', value: { stage: 'boot', durationMs: 30_000, ok: false, skipped: false, message: '' } }));
    r.handle(
      ev({
        $case: 'failure',
        value: commonv1.Failure.fromPartial({
          stage: 'boot',
          code: 4,
          reason: 'BOOT_TIMEOUT',
          message: 'guest did not reach the agent in 30s',
          opId: OP,
          consoleTail: ['[    1.2] Run /sbin/init', 'Kernel panic - not syncing'],
          rolledBack: [{ kind: 'tap', id: 'bt3' }, { kind: 'overlay', id: '/var/lib/banger/vms/x/root.qcow2' }],
          leftovers: [{ kind: 'dns_record', id: 'dev.vm' }],
        }),
      }),
    );
    r.close();
    expect(out.lines).toEqual([
      '✗ boot        30.0s',
      `✗ failed at boot: guest did not reach the agent in 30s [BOOT_TIMEOUT] (${OP})`,
      '  console (last 2 lines):',
      '    │ [    1.2] Run /sbin/init',
      '    │ Kernel panic - not syncing',
      '  rolled back: tap bt3, overlay /var/lib/banger/vms/x/root.qcow2',
      '  leftovers needing cleanup: dns_record dev.vm',
    ]);
    expect(r.failed?.reason).toBe('BOOT_TIMEOUT');
  });
});

describe('EventRenderer (live TTY)', () => {
  it('redraws the running stage in place and replaces it with the finished line', () => {
    const out = new Capture(true);
    const r = renderer(out, true);
    for (const e of script()) r.handle(e);
    r.close();
    const text = out.text;
    expect(text).toContain('\r\x1b[2K');
    expect(text).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] network .*Creating tap {2}50% \(1\/2\)/);
    expect(text).not.toContain('· network');
    // What remains on screen once carriage returns are applied: the finished lines only.
    const screen = text
      .split('\n')
      .map((l) => l.split('\r\x1b[2K').pop() ?? '')
      .filter(Boolean);
    expect(screen).toEqual([`${OP} creating vm dev`, '✓ validate     12ms', '  │ tap bt3 from pool', '✓ network      0.4s  tap bt3 acquired', '- disks      skipped']);
  });
});
