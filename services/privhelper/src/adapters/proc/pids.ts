import { readFile, readdir, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The NUL-separated argv of a live process, or undefined when it is gone (or a zombie). */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  if (!isPid(pid)) return undefined;
  try {
    if ((await procState(pid)) === 'Z') return undefined;
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (raw.length === 0) return undefined;
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** Single-letter state from /proc/<pid>/stat; a zombie ('Z') has exited but not been reaped. */
export async function procState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export async function isAlive(pid: number): Promise<boolean> {
  if (!isPid(pid)) return false;
  const st = await procState(pid);
  return st !== undefined && st !== 'Z' && st !== 'X';
}

/** Reads a pid file; undefined when missing or not a number. */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return isPid(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Polls until `pid` is gone (or a zombie); returns false if still alive at the deadline. */
export async function waitForPidExit(pid: number, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Pids of live processes holding `file` open (via /proc/<pid>/fd), used to refuse touching a disk in use. */
export async function pidsHoldingFile(file: string): Promise<number[]> {
  return pidsWithLink((target) => target === file, false);
}

/**
 * Pids of processes working inside `dir`: their cwd, root (a chroot) or an open file is in it.
 * A build tool (tar, chroot, mkfs.ext4) of a privhelper that died keeps running this way.
 */
export async function pidsUsingDir(dir: string): Promise<number[]> {
  return pidsWithLink((target) => target === dir || target.startsWith(`${dir}/`), true);
}

/** SIGKILLs every process working inside `dir` (pidsUsingDir) and waits for each to exit; answers their pids. */
export async function killProcessesUsingDir(dir: string): Promise<number[]> {
  const pids = await pidsUsingDir(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const pid of pids) await waitForPidExit(pid, 5000, 20);
  return pids;
}

async function pidsWithLink(match: (target: string) => boolean, cwdAndRoot: boolean): Promise<number[]> {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || (cwdAndRoot && Number(e) === process.pid)) continue;
    let fds: string[];
    try {
      fds = (await readdir(`/proc/${e}/fd`)).map((fd) => `fd/${fd}`);
    } catch {
      continue;
    }
    for (const link of cwdAndRoot ? ['cwd', 'root', ...fds] : fds) {
      try {
        if (match(await readlink(`/proc/${e}/${link}`))) {
          out.push(Number(e));
          break;
        }
      } catch {
        /* fd closed while scanning */
      }
    }
  }
  return out;
}

function isPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1;
}

/** The real uid of a process (from /proc/<pid>/status), undefined when it is gone. */
export async function procUid(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** Pids whose real uid is `uid`. */
export async function pidsOfUid(uid: number): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
  const uids = await Promise.all(pids.map(procUid));
  return pids.filter((_, i) => uids[i] === uid);
}
