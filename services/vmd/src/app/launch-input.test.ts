import { describe, expect, it } from 'vitest';
import { specOf } from '../adapters/helper-client.js';
import { sampleVm } from '../testing/sample-vm.js';
import { launchInputFor } from './launch-input.js';

const subnet = { cidr: '10.77.0.0/24', prefix: 24, gateway: '10.77.0.1' } as unknown as Parameters<typeof launchInputFor>[1];

describe('launchInputFor shared RAM', () => {
  it('an ordinary VM asks for nothing new; a template VM (spec.sharedRam) asks privhelper for shared RAM', () => {
    const vm = sampleVm();
    const plain = launchInputFor(vm, subnet, 'ssh-ed25519 AAAA k');
    expect(plain).not.toHaveProperty('sharedRam');
    expect(specOf(plain).sharedRam).toBe(false);
    const template = launchInputFor({ ...vm, spec: { ...vm.spec, sharedRam: true } }, subnet, 'ssh-ed25519 AAAA k');
    expect(template.sharedRam).toBe(true);
    expect(specOf(template).sharedRam).toBe(true);
    expect({ ...template, sharedRam: undefined }).toEqual({ ...plain, sharedRam: undefined });
  });
});
