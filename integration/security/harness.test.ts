import { stat } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { SecurityHarness, securityUnavailableReason } from './harness.js';
import { inTree } from './lib/layout.js';
import { processUid } from './lib/procfs.js';

/**
 * The harness's own guarantees, which every attack test relies on: the attacker really is the
 * unprivileged banger uid, the victims are out of its reach, the layout is tmpfiles.conf's,
 * privhelper is root. Unlike the attack tests these pass before and after the fix.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: harness: ${skip}`);

describe.skipIf(skip !== undefined)('security harness', () => {
  const started: SecurityHarness[] = [];
  afterAll(async () => {
    for (const h of started) await h.close();
  });

  for (const forceBundle of [false, true]) {
    it(`runs the attacker as banger (${forceBundle ? 'bundled' : 'from the worktree when readable'}), with the tmpfiles layout and a root privhelper`, async () => {
      const h = await SecurityHarness.start({ forceBundle });
      started.push(h);
      if (forceBundle) expect(h.launch.mode).toBe('bundled');
      expect(h.attacker.uid).toBe(h.account.uid);
      expect(h.attacker.uid).not.toBe(0);
      expect(await processUid(h.privhelperPid)).toBe(0);
      const info = await h.attacker.call('getServerInfo', {});
      expect(info.ok && info.res.info?.pid).toBe(h.privhelperPid);
      for (const d of h.layout) {
        const st = await stat(inTree(h.tree, d.path));
        expect([st.mode & 0o7777, st.uid === 0 ? 'root' : st.uid === h.account.uid ? 'banger' : st.uid], d.path).toEqual([d.mode, d.user]);
      }
      const sock = await stat(h.socketPath);
      expect([sock.mode & 0o777, sock.uid, sock.gid]).toEqual([0o660, 0, h.account.gid]);
      const v = await h.victims();
      expect(await h.attacker.readError(v.secret)).toBe('EACCES');
      expect(await h.attacker.readError(`${v.dir}/shadow`)).toBe('EACCES');
      expect(await h.hostChanges(v, await h.hostSnapshot(v))).toEqual([]);
    });
  }
});
