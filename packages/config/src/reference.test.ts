import { describe, expect, it } from 'vitest';
import { buildConfig } from './config.js';
import { configReference } from './reference.js';

describe('configReference (docs/config.md)', () => {
  it('lists every key buildConfig reads, with its environment variable, accepted values and defaults', () => {
    const doc = configReference();
    const keys: string[] = [];
    buildConfig({}, 'defaults', { env: {}, uid: 0 }, (t) => keys.push(`${t.section}.${t.key}`));
    expect(keys.length).toBeGreaterThan(30);
    for (const k of keys) {
      const [section = '', key = ''] = k.split('.');
      expect(doc, k).toContain(`| \`${key}\` | \`BANGER_${section.toUpperCase()}_${key.toUpperCase()}\` |`);
    }
    expect(doc).toContain('## [vm]');
    expect(doc).toContain('| `gc_grace_seconds` | `BANGER_VMD_GC_GRACE_SECONDS` | an integer from 0 to 86400 | `120` |');
    expect(doc).toContain('`"/var/lib/banger" (other users: "/home/USER/.local/state/banger")`');
    expect(doc).toContain('| `netns` | `BANGER_NETWORK_NETNS` |');
  });
});
