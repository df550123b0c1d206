import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { imagev1, vmv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import { guestUnsupportedReason, TEST_CACHE } from '../harness/guest.js';
import { createStack, type Stack } from '../harness/daemons.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

export type VmClient = ServiceClient<typeof vmv1.VmServiceService>;
export type ImageClient = ServiceClient<typeof imagev1.ImageServiceService>;

export function vmUnsupportedReason(): string | undefined {
  return netnsUnavailableReason() ?? guestUnsupportedReason();
}

export interface VmStack {
  stack: Stack;
  ns: Netns;
  vmd: VmClient;
  images: ImageClient;
  close(): Promise<void>;
}

/**
 * The three daemons with VM networking inside a throwaway namespace (bridge, taps, NAT and
 * QEMU all live there), sharing the machine-wide image cache so the default image is built
 * once per machine.
 */
export async function createVmStack(): Promise<VmStack> {
  const ns = await Netns.create();
  const bridge = `bgr-v${randomBytes(2).toString('hex')}`;
  const stack = await createStack({
    extraConfig: [
      // [privhelper]: the smallest console cap, so the console flood test rotates the log.
      'console_max_mib = 1',
      '[network]',
      `netns = "${ns.name}"`,
      'cidr = "10.231.0.0/24"',
      `bridge = "${bridge}"`,
      '[vm]',
      'default_memory_mib = 512',
      'agent_timeout_seconds = 300',
      'services_timeout_seconds = 400',
    ].join('\n'),
  });
  // Reuse the machine-wide cache (debootstrap tarballs, kernel packages, npm artifacts).
  stack.env['BANGER_PATHS_CACHE_DIR'] = TEST_CACHE;
  await stack.start('privhelper');
  await stack.start('imaged');
  await stack.start('vmd');
  const vmd = new ServiceClient(vmv1.VmServiceService, stack.socket('vmd'));
  const images = new ServiceClient(imagev1.ImageServiceService, stack.socket('imaged'));
  return {
    stack,
    ns,
    vmd,
    images,
    async close() {
      vmd.close();
      images.close();
      // Kill any guest this stack still runs, by the pid files privhelper wrote.
      const vmsDir = join(stack.dir, 'run', 'helper', 'vms');
      for (const id of await readdir(vmsDir).catch(() => [] as string[])) {
        const pid = Number((await readFile(join(vmsDir, id, 'qemu.pid'), 'utf8').catch(() => '')).trim());
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
      await stack.close();
      await ns.destroy();
    },
  };
}

export async function collect<T>(stream: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of stream) items.push(item);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

/**
 * Pids of QEMU processes running a given VM id (by the -name argument privhelper sets). The
 * jailer supervising each QEMU carries the same argv after its own, so only processes whose
 * argv[0] is QEMU count.
 */
export async function qemuPidsFor(vmId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`banger-${vmId}`) && (cmdline.split('\0')[0] ?? '').includes('qemu-system')) {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      if (!/\) Z /.test(stat)) pids.push(Number(entry));
    }
  }
  return pids;
}

/** Builds (or, with the machine-wide cache, reuses) the default Debian image on a stack; throws on failure. */
export async function buildDefaultImage(s: VmStack): Promise<void> {
  const build = s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
  const { error } = await collect(build);
  if (error !== undefined) throw error instanceof Error ? error : new Error(`image build failed: ${JSON.stringify(error)}`);
}
