import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQemuArgv } from './argv.js';
import { VmHostError } from '../../domain/vmspec/errors.js';
import type { HostRoots, LaunchRequest } from '../../domain/vmspec/spec.js';
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

let tmp: string;
let roots: HostRoots;
let good: LaunchRequest;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-fuzz-'));
  const state = path.join(tmp, 'state');
  await mkdir(path.join(state, 'img'), { recursive: true });
  await writeFile(path.join(state, 'img', 'k'), '');
  roots = { stateDirs: [state], runRoot: path.join(tmp, 'run') };
  good = {
    vmId: 'f1',
    memoryMib: 256,
    vcpus: 1,
    kernelPath: path.join(state, 'img/k'),
    cmdline: [{ key: 'rw' }],
    rootDisk: { path: path.join(state, 'img/root.qcow2'), format: 'qcow2' },
    net: { tap: 'tap0', mac: '52:54:00:00:00:01' },
  };
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('validateLaunchSpec under random input', () => {
  it('either returns a spec whose argv is safe or throws INVALID_ARGUMENT, never anything else', async () => {
    const rnd = mulberry32(0xb4a6e2);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const str = (): string => Array.from({ length: Math.floor(rnd() * 12) }, () => pick(ALPHABET)).join('');
    const state = roots.stateDirs[0] ?? '';
    const value = (): unknown =>
      pick([str(), `${state}/img/${str()}`, `${state}/${str()}`, -1, 0, 1, 2 ** 53, NaN, Infinity, 1.5, null, undefined, {}, [], true]);
    const fields = ['vmId', 'memoryMib', 'vcpus', 'kernelPath', 'initrdPath', 'cmdline', 'rootDisk', 'workDisk', 'net'] as const;
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      const req: Record<string, unknown> = { ...good };
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
        const f = pick(fields);
        if (f === 'cmdline') req[f] = rnd() < 0.5 ? value() : [{ key: pick(['banger.x', 'init', str()]), value: value() }];
        else if (f === 'rootDisk' || f === 'workDisk') req[f] = rnd() < 0.3 ? value() : { path: value(), format: pick(['qcow2', 'raw', str()]) };
        else if (f === 'net') req[f] = rnd() < 0.3 ? value() : { tap: value(), mac: pick(['52:54:00:00:00:02', str()]), netns: pick([undefined, str()]) };
        else req[f] = value();
      }
      try {
        const spec = await validateLaunchSpec(req as unknown as LaunchRequest, roots);
        accepted++;
        const argv = buildQemuArgv(spec, { qemuPath: 'q', accel: 'tcg', tscKhz: 1, daemonize: true });
        const append = argv[argv.indexOf('-append') + 1];
        for (const a of argv) expect(a).not.toMatch(a === append ? /[\n\0"'\\]/ : /[\n\0"'\\ ]/);
        for (const p of [spec.kernelPath, spec.rootDisk.path, spec.initrdPath, spec.workDisk?.path]) {
          if (p !== undefined) expect(p.startsWith(`${state}/`)).toBe(true);
        }
      } catch (err) {
        if (!(err instanceof VmHostError) || err.kind !== 'INVALID_ARGUMENT') throw new Error(`iteration ${i}: unexpected ${String(err)}`, { cause: err });
        expect(typeof err.fields['field']).toBe('string');
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
