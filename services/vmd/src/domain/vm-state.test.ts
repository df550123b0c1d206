import { describe, expect, it } from 'vitest';
import { assertTransition, canTransition, statesAllowedInto, TRANSITIONS } from './vm-state.js';
import { VM_STATES } from './vm.js';

describe('the VM state machine', () => {
  it('knows every state', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...VM_STATES].sort());
  });

  it('allows the lifecycle paths and refuses shortcuts', () => {
    for (const [from, to] of [['creating', 'running'], ['stopped', 'starting'], ['starting', 'running'], ['starting', 'stopped'], ['running', 'stopping'], ['stopping', 'stopped'], ['running', 'stopped'], ['running', 'deleting'], ['stopped', 'stopped']] as const) {
      expect(canTransition(from, to)).toBe(true);
    }
    for (const [from, to] of [['stopped', 'running'], ['stopped', 'stopping'], ['creating', 'starting'], ['deleting', 'starting'], ['running', 'starting']] as const) {
      expect(canTransition(from, to)).toBe(false);
    }
  });

  it('names the VM, its state and the refused target', () => {
    expect(() => assertTransition({ name: 'dev', state: 'stopped' }, 'running')).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION', reason: 'VM_STATE_INVALID', fields: { vm: 'dev', state: 'stopped', to: 'running' } }) as Error);
  });

  it('gives the store the states a write may start from', () => {
    expect(statesAllowedInto('starting').sort()).toEqual(['error', 'starting', 'stopped', 'suspended']);
    expect(statesAllowedInto('paused').sort()).toEqual(['paused', 'running']);
    expect(statesAllowedInto('suspended').sort()).toEqual(['paused', 'running', 'starting', 'suspended']);
    expect(statesAllowedInto('running')).not.toContain('stopped');
  });
});
