import { describe, expect, it } from 'vitest';
import { buildQemuArgv } from './argv.js';
import { BangerError } from '@banger/runtime/errors';
import { VmHostError } from '../../domain/vmspec/errors.js';
import type { LaunchRequest } from '../../domain/vmspec/spec.js';
import { validateLaunchSpec } from '../../domain/vmspec/spec.js';

/** Small deterministic PRNG so a failure reproduces from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ['a', 'z', '0', '-', '_', '.', '/', '..', ',', ' ', '"', "'", '\n', '\0', '=', '$', ';', 'é', '\u202e', '*', ':'];
const LIMITS = { minMemoryMib: 128, maxMemoryMib: 4096, minVcpus: 1, maxVcpus: 4 };
const RUN = '/run/banger/helper/vms';

const good: LaunchRequest = {
  vmId: 'f1',
  memoryMib: 256,
  vcpus: 1,
  kernel: { name: 'debian-cloud', version: '6.1.1-1' },
  cmdline: [{ key: 'rw' }],
  workDisk: true,
  mac: '52:54:00:00:00:01',
};

describe('validateLaunchSpec under random input', () => {
  it('either returns a spec whose argv is safe or refuses naming a field, never anything else', () => {
    const rnd = mulberry32(0xb4a6e2);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const str = (): string => Array.from({ length: Math.floor(rnd() * 12) }, () => pick(ALPHABET)).join('');
    const value = (): unknown => pick([str(), `../${str()}`, -1, 0, 1, 128, 4096, 4097, 2 ** 53, NaN, Infinity, 1.5, null, undefined, {}, [], true]);
    const fields = ['vmId', 'memoryMib', 'vcpus', 'kernel', 'cmdline', 'workDisk', 'mac'] as const;
    let accepted = 0;
    for (let i = 0; i < 800; i++) {
      const req: Record<string, unknown> = { ...good };
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
        const f = pick(fields);
        if (f === 'cmdline') req[f] = rnd() < 0.5 ? value() : [{ key: pick(['banger.x', 'init', str()]), value: value() }];
        else if (f === 'kernel') req[f] = rnd() < 0.3 ? value() : { name: pick(['debian-cloud', str()]), version: pick(['6.1.1-1', str(), '..']) };
        else if (f === 'mac') req[f] = pick(['52:54:00:00:00:02', str(), undefined]);
        else req[f] = value();
      }
      try {
        const spec = validateLaunchSpec(req as unknown as LaunchRequest, RUN, LIMITS);
        accepted++;
        const argv = buildQemuArgv(spec, true, { qemuPath: 'q', accel: 'tcg', tscKhz: 1, sandbox: true, kernel: '/boot/vmlinux', initrd: '/boot/initrd.img' });
        const append = argv[argv.indexOf('-append') + 1];
        for (const a of argv) expect(a).not.toMatch(a === append ? /[\n\0"'\\]/ : /[\n\0"'\\ ]/);
        expect(spec.kernel.name).toMatch(/^[a-z0-9][a-z0-9._-]*$/);
        expect(spec.kernel.version).not.toContain('/');
        expect(spec.memoryMib).toBeLessThanOrEqual(LIMITS.maxMemoryMib);
      } catch (err) {
        const ok = (err instanceof VmHostError && err.kind === 'INVALID_ARGUMENT') || (err instanceof BangerError && (err.code === 'INVALID_ARGUMENT' || err.code === 'RESOURCE_EXHAUSTED'));
        if (!ok) throw new Error(`iteration ${i}: unexpected ${String(err)}`, { cause: err });
        expect(typeof err.fields['field']).toBe('string');
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
