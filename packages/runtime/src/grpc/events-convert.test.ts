import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commonv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { operationKindFromProto, operationKindToProto } from './events-convert.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Every `kind: 'vm_…'` / `'image_…'` / `'kernel_…'` literal the daemons' sources name. */
function kindsInSources(): Set<string> {
  const kinds = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/kind: '((?:vm|image|kernel)_[a-z_]+)'/g)) kinds.add(m[1] as string);
      }
    }
  };
  for (const d of ['services/vmd/src', 'services/imaged/src']) walk(join(ROOT, d));
  return kinds;
}

describe('operation kinds on the wire', () => {
  it('gives every kind a daemon runs its own enum value (an accepted event never says "unspecified")', () => {
    const kinds = kindsInSources();
    expect([...kinds]).toEqual(expect.arrayContaining(['vm_create', 'image_build', 'kernel_pull']));
    for (const kind of kinds) {
      const wire = operationKindToProto(kind);
      expect(wire, kind).not.toBe(commonv1.OperationKind.OPERATION_KIND_UNSPECIFIED);
      expect(operationKindFromProto(wire)).toBe(kind);
    }
  });
});
