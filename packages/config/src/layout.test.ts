import { describe, expect, it } from 'vitest';
import { buildConfig } from './config.js';
import { bangerLayout, helperRoots } from './layout.js';

const config = buildConfig({}, 'defaults', { env: {}, uid: 0 });

describe('bangerLayout', () => {
  const layout = bangerLayout(config);

  it('keeps every directory privhelper writes under root-owned helper/ roots', () => {
    const roots = helperRoots(layout.helper);
    expect(roots).toEqual(['/var/lib/banger/helper', '/var/cache/banger/helper', '/run/banger/helper']);
    for (const p of Object.values(layout.helper) as string[]) expect(roots.some((r) => p === r || p.startsWith(`${r}/`))).toBe(true);
    for (const d of layout.dirs.filter((x) => roots.some((r) => x.path === r || x.path.startsWith(`${r}/`)))) {
      expect(d.owner, d.path).toBe('root');
      expect(d.mode & 0o022, d.path).toBe(0);
    }
  });

  it('makes the tops root-owned; only the run directory is group-writable, and it is sticky', () => {
    for (const top of [config.paths.stateDir, config.paths.cacheDir, config.paths.runDir]) {
      const d = layout.dirs.find((x) => x.path === top);
      expect(d?.owner, top).toBe('root');
      if ((d?.mode ?? 0) & 0o022) expect((d?.mode ?? 0) & 0o1000, top).toBe(0o1000);
    }
  });

  it('lists parents before children, each directory once', () => {
    const seen = new Set<string>();
    for (const d of layout.dirs) {
      expect(seen.has(d.path)).toBe(false);
      const parent = d.path.slice(0, d.path.lastIndexOf('/'));
      if (layout.dirs.some((x) => x.path === parent)) expect(seen.has(parent), d.path).toBe(true);
      seen.add(d.path);
    }
  });
});
