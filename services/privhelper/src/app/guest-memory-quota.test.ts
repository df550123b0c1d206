import { describe, expect, it } from 'vitest';
import { checkGuestMemory } from './guest-memory-quota.js';

const MIB = 1024 * 1024;

describe('checkGuestMemory ([privhelper] max_guest_memory_percent)', () => {
  it('counts held template RAM beside running guests: a launch that fits the guests alone is refused', async () => {
    const deps = { runningMib: async () => 512, templateBytes: () => 512 * MIB, limitMib: 1536 };
    await expect(checkGuestMemory(deps, 512, 'vm a')).resolves.toBeUndefined();
    const refused = checkGuestMemory(deps, 513, 'vm a');
    await expect(refused).rejects.toMatchObject({ reason: 'GUEST_MEMORY_QUOTA_EXCEEDED', fields: { field: 'memory_mib', limit: 'privhelper.max_guest_memory_percent', running_mib: '512', template_mib: '512' } });
    await expect(refused).rejects.toThrow('running VMs use 512 MiB and snapshot templates hold 512 MiB; 513 MiB more for vm a would pass the 1536 MiB allowed');
  });

  it('rounds a partial MiB of templates up, never down to zero', async () => {
    await expect(checkGuestMemory({ runningMib: async () => 0, templateBytes: () => 1, limitMib: 256 }, 256, 'vm a')).rejects.toMatchObject({ reason: 'GUEST_MEMORY_QUOTA_EXCEEDED' });
  });
});
