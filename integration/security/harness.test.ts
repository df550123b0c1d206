import { lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecurityHarness, securityUnavailableReason } from './harness.js';
import { expectedIds } from './lib/layout.js';
import { processUid } from './lib/procfs.js';

/**
 * The harness's own guarantees, which every attack test relies on: the attacker really is the
 * unprivileged banger uid, the victims are out of its reach, the tree is laid out exactly as
 * `bangerLayout` says (the layout `banger system install` applies), privhelper is root and
 * serves the banger uid. Unlike the attack tests these pass before and after the fix.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: harness: ${skip}`);

describe.skipIf(skip !== undefined)('security harness', () => {
  const started: SecurityHarness[] = [];
  afterAll(async () => {
    for (const h of started) await h.close();
  });

  for (const forceBundle of [false, true]) {
    it(`runs the attacker as banger (${forceBundle ? 'bundled' : 'from the worktree when readable'}), with the install layout and a root privhelper`, async () => {
      const h = await SecurityHarness.start({ forceBundle, guest: !forceBundle });
      started.push(h);
      if (forceBundle) expect(h.launch.mode).toBe('bundled');
      expect(h.attacker.uid).toBe(h.account.uid);
      expect(h.attacker.uid).not.toBe(0);
      expect(await processUid(h.privhelperPid)).toBe(0);
      const info = await h.attacker.call('getServerInfo', {});
      expect(info.ok && info.res.info?.pid).toBe(h.privhelperPid);
      for (const d of h.layout.dirs) {
        const st = await lstat(d.path);
        const want = expectedIds(d, h.account);
        expect({ dir: st.isDirectory(), mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid }, d.path).toEqual({ dir: true, mode: d.mode.toString(8), ...want });
      }
      const sock = await stat(h.socketPath);
      expect([sock.mode & 0o777, sock.uid, sock.gid]).toEqual([0o660, 0, h.account.gid]);
      // privhelper's socket lives in its own root-only run root, not the shared (sticky) run dir.
      expect(path.dirname(h.socketPath)).toBe(h.helper.runRoot);
      const v = await h.victims();
      expect(await h.attacker.readError(v.secret)).toBe('EACCES');
      expect(await h.attacker.readError(`${v.dir}/shadow`)).toBe('EACCES');
      expect(await h.hostChanges(v, await h.hostSnapshot(v))).toEqual([]);
      if (!forceBundle) {
        // The legitimate path works for the banger uid: its pulled kernel is in privhelper's store.
        const kernels = await h.attacker.call('listKernels', {});
        expect(kernels.ok && kernels.res.kernels.map((k) => k.ref)).toEqual([h.tiny.ref]);
        const images = await h.attacker.call('listImages', {});
        expect(images.ok && images.res.images.map((i) => i.image)).toEqual([h.guestImage.id]);
      }
    });
  }
});
