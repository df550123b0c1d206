import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bangerLayout } from '@banger/config';
import { describe, expect, it } from 'vitest';
import { DEPLOY_DIR, SYSTEM_PATHS, tmpfilesText } from './system-common.js';

describe('deploy/systemd/banger.tmpfiles.conf', () => {
  it('is what the layout generates (regenerate it from tmpfilesText when the layout changes)', () => {
    expect(readFileSync(join(DEPLOY_DIR, 'banger.tmpfiles.conf'), 'utf8')).toBe(tmpfilesText(bangerLayout({ paths: SYSTEM_PATHS })));
  });

  it('keeps privhelper roots root-only and the shared run directory sticky', () => {
    const text = tmpfilesText(bangerLayout({ paths: SYSTEM_PATHS }));
    expect(text).toContain('d /var/lib/banger 0755 root root -');
    expect(text).toContain('d /var/lib/banger/helper 0711 root root -');
    expect(text).toContain('d /run/banger 1775 root banger -');
    expect(text).not.toMatch(/^d \/(var|run)\S*\/helper\S* \S+ banger /m);
  });
});
