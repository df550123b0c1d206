import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOOD_DONE_MARKER, READY_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason } from '../privhelper/setup.js';

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] console flood with a real guest: ${skip}`);

const MiB = 1024 * 1024;
/** [privhelper] console_max_mib: the smallest cap, so a short flood rotates several times. */
const CAP_MIB = 1;
/** 100-byte lines: about 2.5 MiB, two rotations. */
const FLOOD_LINES = 25_000;

interface FollowerLine {
  following?: boolean;
  done?: boolean;
  flood?: number;
  first?: number;
  last?: number;
  rss: number;
  peak?: number;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

/**
 * A real tiny guest, launched by privhelper under its jailer with the smallest console cap,
 * floods its serial console; vmd's console follower, in its own process, follows the log
 * throughout. Bounds, with generous margins: the follower's RSS grows by far less than the
 * flood, the VM's run dir stays within two caps (console.log + console.log.1) plus slack, and
 * the follower still sees the flood's last line and the marker written after the rotations.
 */
describe.skipIf(skip !== undefined)('a real guest flooding its console', () => {
  let f: HelperFixture;
  const vmId = `fl-${randomBytes(3).toString('hex')}`;
  let spec: helperv2.HypervisorSpec;

  beforeAll(async () => {
    f = await HelperFixture.start({ privhelper: [`console_max_mib = ${CAP_MIB}`], vm: ['default_memory_mib = 256', 'max_memory_mib = 512', 'max_vcpus = 2'] });
    const kernel = await f.installTinyKernel();
    await f.putImage('img-fl');
    await f.call('createOverlay', { vmId, image: 'img-fl' });
    spec = helperv2.HypervisorSpec.fromPartial({
      vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: 256,
      vcpus: 1,
      kernel,
      cmdline: [
        { key: 'console', value: 'ttyS0' },
        { key: 'panic', value: '-1' },
        { key: 'banger.tiny_flood', value: String(FLOOD_LINES) },
      ],
      workDisk: false,
    });
  }, 300_000);

  afterAll(async () => {
    await f?.call('stopHypervisor', { vmId, timeout: { seconds: 10, nanos: 0 } }).catch(() => undefined);
    await f?.call('removeOverlay', { vmId }).catch(() => undefined);
    await f?.close();
  });

  it('keeps the run dir within two console caps, the follower small, and follows across the rotations', async () => {
    const runDir = f.vmRunDir(vmId);
    const consoleLog = path.join(runDir, 'console.log');
    const follower = spawn(process.execPath, [path.join(import.meta.dirname, 'console-follower.mjs'), consoleLog, FLOOD_DONE_MARKER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: FollowerLine[] = [];
    const ended = new Promise<void>((resolve) => follower.on('exit', () => resolve()));
    createInterface({ input: follower.stdout }).on('line', (l) => lines.push(JSON.parse(l) as FollowerLine));
    try {
      while (!lines[0]?.following) await sleep(50);
      const before = lines[0].rss;
      const t0 = Date.now();
      const res = await f.call('launchHypervisor', { spec });
      f.qemuPids.add(res.process!.pid);
      let maxRunDir = 0;
      for (;;) {
        maxRunDir = Math.max(maxRunDir, await dirBytes(runDir));
        if (lines.at(-1)?.done) break;
        if (Date.now() - t0 > 240_000) throw new Error(`no flood-done marker after 240 s; follower said ${JSON.stringify(lines.at(-1))}`);
        await sleep(200);
      }
      await ended;
      const done = lines.at(-1)!;
      const rotated = await stat(`${consoleLog}.1`).then(() => true, () => false);
      const tail = await readFile(consoleLog, 'utf8');
      console.info(
        `[console-flood] ${FLOOD_LINES} lines in ${Date.now() - t0} ms; follower saw ${done.flood} (first ${done.first}, last ${done.last}); ` +
          `follower RSS ${(before / MiB).toFixed(1)} -> ${(done.rss / MiB).toFixed(1)} MiB (peak ${((done.peak ?? 0) / MiB).toFixed(1)}); run dir max ${(maxRunDir / MiB).toFixed(2)} MiB`,
      );
      expect(rotated).toBe(true);
      expect(tail).toContain(FLOOD_DONE_MARKER);
      expect(tail).not.toContain(READY_MARKER);
      // The jailer keeps two files of at most the cap; the rest (qemu.log, sockets, records) is small.
      expect(maxRunDir).toBeLessThanOrEqual(2 * CAP_MIB * MiB + MiB);
      // Followed across every rotation to the end: the last flood line and most of the others.
      expect(done.last).toBe(FLOOD_LINES - 1);
      expect(done.flood).toBeGreaterThan(FLOOD_LINES / 2);
      // The flood is ~2.5 MiB of console; the follower reads 256 KiB at a time and holds a line.
      expect((done.peak ?? done.rss) - before).toBeLessThan(48 * MiB);
    } finally {
      if (follower.exitCode === null) follower.kill('SIGKILL');
    }
  }, 300_000);
});
