import { readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

/** One open file of a process, as /proc shows it. */
export interface OpenFile {
  readonly pid: number;
  readonly comm: string;
  readonly fd: number;
  readonly path: string;
  /** "rw", "ro" or "wo", from the flags in /proc/<pid>/fdinfo/<fd>. */
  readonly access: string;
}

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
}

export async function comm(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

export async function cmdline(pid: number): Promise<string[]> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.replace(/\0$/, '').split('\0').filter((a) => a !== '');
}

function accessOf(fdinfo: string): string {
  const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(fdinfo)?.[1] ?? '0', 8);
  return ['ro', 'wo', 'rw'][flags & 3] ?? '?';
}

/** Files under `prefix` held open by any process whose name starts with `qemu` (qemu-system-*, qemu-img). */
export async function qemuHolding(prefix: string): Promise<OpenFile[]> {
  const out: OpenFile[] = [];
  for (const pid of await pids()) {
    const name = await comm(pid);
    if (!name.startsWith('qemu')) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target !== prefix && !target.startsWith(`${prefix}/`)) continue;
      const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      out.push({ pid, comm: name, fd: Number(fd), path: target, access: accessOf(info) });
    }
  }
  return out;
}

export function describeOpenFile(f: OpenFile): string {
  return `${f.comm} pid ${f.pid} had ${f.path} open as fd ${f.fd} (${f.access})`;
}

/**
 * QEMU processes this suite's privhelper started: their command line names a file in our
 * throwaway tree. Only those are ever killed, by pid.
 */
export async function qemuProcessesUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await pids()) {
    const args = await cmdline(pid);
    const exe = path.basename(args[0] ?? '');
    if (!exe.startsWith('qemu-system-') && !(exe === 'ip' && args.some((a) => a.startsWith('qemu-system-')))) continue;
    if (args.some((a) => a.includes(dir))) out.push(pid);
  }
  return out;
}

/** User + system CPU seconds a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Uid of a live process (the real one, from /proc/<pid>/status). */
export async function processUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
}

/**
 * Samples /proc every few milliseconds for processes matching `pred` (by command line), so a
 * test can count short-lived children such as a probe QEMU that lives a few milliseconds.
 */
export function watchProcesses(pred: (args: string[]) => boolean, intervalMs = 3): { stop(): Promise<Map<number, string[]>> } {
  const seen = new Map<number, string[]>();
  const checked = new Set<number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of await pids()) {
        if (checked.has(pid)) continue;
        const args = await cmdline(pid);
        if (args.length === 0) continue;
        checked.add(pid);
        if (pred(args)) seen.set(pid, args);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}
