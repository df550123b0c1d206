// Real-guest helpers for integration suites: cached kernel/initramfs/rootfs artifacts, a QEMU
// TCG/microvm launcher matching HOST-FACTS, and tiny QMP / qemu-guest-agent clients.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  buildRootfs, buildWorkSeed, findKernel, guestKernelCmdline, loadKernelCatalog, loadRecipe, pullKernel,
  isImageKitError, recipeFingerprint, workSeedFingerprint, DEFAULT_IMAGES_DIR, type InitMode, type ProgressFn,
} from '@banger/imagekit';

export const TEST_CACHE = process.env['BANGER_TEST_CACHE'] ?? '/var/cache/banger/test';
export const TEST_KERNEL = 'debian-bookworm-cloud';
export const TEST_RECIPE = 'debian-bookworm';

export interface TestGuestArtifacts {
  vmlinux: string;
  initrd: string;
  rootfs: string;
  workSeed: string;
  workSeedFingerprint: string;
  fingerprint: string;
  inits: Record<InitMode, string>;
  defaultInitMode: InitMode;
  kernelArgs: string[];
  timings: Record<string, number>;
}

/** Why real guests cannot run here, or undefined when they can. */
export function guestUnsupportedReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot)';
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'debootstrap', 'mkfs.ext4', 'depmod', 'apt-get']) {
    if (spawnSync('which', [tool]).status !== 0) return `${tool} is not installed`;
  }
  if (spawnSync('test', ['-x', '/bin/busybox']).status !== 0) return 'busybox-static is not installed';
  return undefined;
}

let cached: Promise<TestGuestArtifacts> | undefined;

/**
 * Pulls the test kernel and builds the default recipe once per machine (cached under TEST_CACHE
 * by recipe fingerprint), so every suite that boots a real guest shares the same artifacts.
 */
export function ensureTestGuestArtifacts(onProgress?: ProgressFn): Promise<TestGuestArtifacts> {
  cached ??= (async () => {
    const timings: Record<string, number> = {};
    let t = performance.now();
    const catalog = await loadKernelCatalog(path.join(DEFAULT_IMAGES_DIR, 'kernels.json'));
    const pull = (aptUpdate: boolean): ReturnType<typeof pullKernel> =>
      pullKernel({ entry: findKernel(catalog, TEST_KERNEL), kernelsDir: path.join(TEST_CACHE, 'kernels'), aptUpdate, ...(onProgress ? { onProgress } : {}) });
    // A fresh machine may have empty or stale apt lists: refresh once and retry.
    const k = await pull(false).catch((e: unknown) => {
      if (isImageKitError(e) && e.kind === 'UNAVAILABLE') return pull(true);
      throw e;
    });
    timings['kernel_ms'] = Math.round(performance.now() - t);
    const recipe = await loadRecipe(TEST_RECIPE);
    const kid = { name: k.manifest.name, release: k.manifest.release, packageVersion: k.manifest.packageVersion };
    const fp = recipeFingerprint(recipe, kid);
    const dir = path.join(TEST_CACHE, 'images', fp.slice(0, 24));
    const rootfs = path.join(dir, 'rootfs.ext4');
    const seed = path.join(dir, 'work-seed.ext4');
    t = performance.now();
    if (!(await stat(rootfs).catch(() => null))) {
      const r = await buildRootfs({ recipe, kernel: kid, outPath: rootfs, cacheDir: TEST_CACHE, ...(onProgress ? { onProgress } : {}) });
      for (const s of r.stages) timings[`rootfs_${s.stage}_ms`] = s.durationMs;
    }
    timings['rootfs_ms'] = Math.round(performance.now() - t);
    if (!(await stat(seed).catch(() => null))) await buildWorkSeed(recipe, seed);
    await pruneOtherImages(path.dirname(dir), path.basename(dir));
    return {
      vmlinux: k.vmlinux, initrd: k.initrd, rootfs, workSeed: seed, workSeedFingerprint: workSeedFingerprint(recipe),
      fingerprint: fp, inits: recipe.doc.init, defaultInitMode: recipe.doc.initMode, kernelArgs: recipe.doc.kernelArgs, timings,
    };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

/** Drops test images of older recipe fingerprints so the cache does not grow by ~1 GB per change. */
async function pruneOtherImages(imagesDir: string, keep: string): Promise<void> {
  for (const d of await readdir(imagesDir).catch(() => [] as string[])) {
    if (d !== keep) await rm(path.join(imagesDir, d), { recursive: true, force: true });
  }
}

/** tsc_early_khz for microvm under TCG (no timer to calibrate against), from the host's CPU MHz. */
export async function hostTscKhz(): Promise<number> {
  const m = /cpu MHz\s*:\s*([\d.]+)/.exec(await readFile('/proc/cpuinfo', 'utf8'));
  return m?.[1] ? Math.round(Number(m[1]) * 1000) : 2_596_000;
}

export interface BootedGuest {
  dir: string;
  proc: ChildProcess;
  pid: number;
  console: string;
  agentSock: string;
  qmpSock: string;
  exited: Promise<number | null>;
  /** QMP ctrl-alt-delete, wait for exit, then SIGKILL our own QEMU if it did not stop. */
  stop(timeoutMs?: number): Promise<'graceful' | 'killed'>;
}

export async function bootTestGuest(opts: {
  artifacts: TestGuestArtifacts;
  dir: string;
  initMode?: InitMode;
  memMiB?: number;
  cmdline?: Partial<Parameters<typeof guestKernelCmdline>[0]>;
}): Promise<BootedGuest> {
  const a = opts.artifacts;
  await rm(opts.dir, { recursive: true, force: true });
  await mkdir(opts.dir, { recursive: true });
  const overlay = path.join(opts.dir, 'root.qcow2');
  const work = path.join(opts.dir, 'work.ext4');
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', a.rootfs, '-F', 'raw', overlay]);
  if (r.status !== 0) throw new Error(`qemu-img create failed: ${r.stderr.toString()}`);
  await copyFile(a.workSeed, work);
  const mode = opts.initMode ?? a.defaultInitMode;
  const append = guestKernelCmdline({
    init: a.inits[mode], hostname: 'banger-test', ...opts.cmdline,
    extra: [...a.kernelArgs, `tsc_early_khz=${await hostTscKhz()}`, ...(opts.cmdline?.extra ?? [])],
  });
  const g = {
    console: path.join(opts.dir, 'console.log'),
    agentSock: path.join(opts.dir, 'agent.sock'),
    qmpSock: path.join(opts.dir, 'qmp.sock'),
  };
  const args = [
    '-M', 'microvm', '-accel', 'tcg,tb-size=64', '-cpu', 'max', '-m', String(opts.memMiB ?? 512), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', a.vmlinux, '-initrd', a.initrd, '-append', append,
    '-drive', `id=root,file=${overlay},format=qcow2,if=none`, '-device', 'virtio-blk-device,drive=root',
    '-drive', `id=work,file=${work},format=raw,if=none`, '-device', 'virtio-blk-device,drive=work',
    '-device', 'virtio-serial-device',
    '-chardev', `socket,path=${g.agentSock},server=on,wait=off,id=ch0`,
    '-device', 'virtserialport,chardev=ch0,name=org.qemu.guest_agent.0',
    '-device', 'virtio-rng-device', '-device', 'i8042',
    '-serial', `file:${g.console}`, '-qmp', `unix:${g.qmpSock},server=on,wait=off`,
  ];
  const proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  if (proc.pid === undefined) throw new Error(`qemu did not start: ${stderr}`);
  const pid = proc.pid;
  await waitFor(() => stat(g.qmpSock).then(() => true, () => false), 10_000, () => `qemu: ${stderr}`);
  return {
    dir: opts.dir, proc, pid, ...g, exited,
    async stop(timeoutMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return 'graceful';
      await qmp(g.qmpSock, { execute: 'send-key', arguments: { keys: [{ type: 'qcode', data: 'ctrl' }, { type: 'qcode', data: 'alt' }, { type: 'qcode', data: 'delete' }] } }).catch(() => undefined);
      const done = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (done) return 'graceful';
      proc.kill('SIGKILL');
      await exited;
      return 'killed';
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls a guest's console log until `marker` appears; answers the whole text (the tail on timeout). */
export async function waitForConsole(file: string, marker: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(marker)) return text;
    if (Date.now() > deadline) throw new Error(`no ${marker} in ${file} after ${timeoutMs} ms; tail: ${text.slice(-800)}`);
    await sleep(100);
  }
}

export async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, why: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${why()}`);
}

/** One line-delimited JSON exchange over a Unix socket: sends `lines`, resolves on `until(msg)`. */
function jsonExchange(sock: string, lines: object[], until: (msg: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no reply on ${sock} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.on('connect', () => {
      for (const l of lines) c.write(`${JSON.stringify(l)}\n`);
    });
    c.on('data', (d) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/^\xff/, '').trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (until(msg)) {
          clearTimeout(timer);
          c.end();
          resolve(msg);
          return;
        }
      }
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function qmp(sock: string, cmd: object): Promise<Record<string, unknown>> {
  let seen = 0;
  return jsonExchange(sock, [{ execute: 'qmp_capabilities' }, cmd], (m) => ('return' in m || 'error' in m) && ++seen === 2, 5_000);
}

let syncId = Math.floor(Math.random() * 1e6);

/** guest-sync (to flush stale replies) then one command; returns its `return` value. */
export async function qga(sock: string, cmd: { execute: string; arguments?: object }, timeoutMs = 3_000): Promise<unknown> {
  const id = ++syncId;
  await jsonExchange(sock, [{ execute: 'guest-sync', arguments: { id } }], (m) => m['return'] === id, timeoutMs);
  const reply = await jsonExchange(sock, [cmd], (m) => 'return' in m || 'error' in m, timeoutMs);
  if ('error' in reply) throw new Error(`qga ${cmd.execute}: ${JSON.stringify(reply['error'])}`);
  return reply['return'];
}

/** Retries guest-ping until the agent answers; returns ms waited. */
export async function waitForAgent(sock: string, timeoutMs: number, consolePath?: string): Promise<number> {
  const t = performance.now();
  await waitFor(
    () => qga(sock, { execute: 'guest-ping' }, 1_500).then(() => true, () => false),
    timeoutMs,
    () => `guest agent did not answer; console tail: ${consolePath ? tailSync(consolePath) : ''}`,
  );
  return Math.round(performance.now() - t);
}

function tailSync(file: string): string {
  const r = spawnSync('tail', ['-n', '30', file]);
  return r.stdout?.toString() ?? '';
}

/** Reads a guest file through the agent (works for /proc files). */
export async function qgaReadFile(sock: string, file: string): Promise<string> {
  const handle = (await qga(sock, { execute: 'guest-file-open', arguments: { path: file, mode: 'r' } })) as number;
  try {
    let out = '';
    for (;;) {
      const r = (await qga(sock, { execute: 'guest-file-read', arguments: { handle, count: 65536 } })) as { 'buf-b64': string; eof: boolean; count: number };
      out += Buffer.from(r['buf-b64'], 'base64').toString('utf8');
      if (r.eof || r.count === 0) return out;
    }
  } finally {
    await qga(sock, { execute: 'guest-file-close', arguments: { handle } }).catch(() => undefined);
  }
}

/** True when something in the guest listens on TCP `port` (from /proc/net/tcp{,6}, no network needed). */
export async function guestListening(sock: string, port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await qgaReadFile(sock, f).catch(() => '');
    if (text.split('\n').some((l) => { const c = l.trim().split(/\s+/); return c[1]?.endsWith(`:${hex}`) && c[3] === '0A'; })) return true;
  }
  return false;
}
