import { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { unary } from './handlers.js';
import { implementService } from './implement.js';

describe('implementService', () => {
  it('fills every missing RPC and keeps the given ones', () => {
    const getVm = unary(async () => ({}));
    const impl = implementService(vmv1.VmServiceService, 'VmService', { getVm });
    expect(impl['getVm']).toBe(getVm);
    expect(Object.keys(impl).sort()).toEqual(Object.keys(vmv1.VmServiceService).sort());
  });

  it('refuses a handler that matches no RPC (a typo would otherwise go unnoticed)', () => {
    expect(() => implementService(vmv1.VmServiceService, 'VmService', { getVmm: unary(async () => ({})) })).toThrow(/getVmm/);
  });
});
