import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Accel, ExitView } from '../../domain/hypervisor/driver.js';
import type { JailLayer } from '../../domain/hypervisor/jail.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import type { VmCgroups } from '../proc/cgroup.js';
import { qemuProcessName } from './argv.js';

/** What the launch record says about the jail a VM runs in. */
export interface JailRecord {
  readonly uid: number;
  readonly cgroups: VmCgroups | null;
  readonly applied: readonly JailLayer[];
  readonly skipped: readonly JailLayer[];
  readonly supervisorPid: number;
}

/** `launch.json` in a VM's root-owned run dir: how it was started, read back after a helper restart. */
export interface LaunchRecord {
  readonly vmId: string;
  readonly accel: Accel;
  readonly argv: readonly string[];
  readonly spec: LaunchSpec;
  /** The image the root overlay was based on at launch (from privhelper's disk record). */
  readonly baseImage?: string;
  readonly launchedAt: string;
  readonly jail: JailRecord;
}

export async function readRecord(file: string): Promise<LaunchRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LaunchRecord;
  } catch {
    return undefined;
  }
}

/** `exit.json`, written by the jailer once QEMU has been reaped; undefined until then. */
export async function readExit(file: string): Promise<ExitView | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const e = JSON.parse(text) as { launched?: unknown; code?: unknown; signal?: unknown };
    if (e.launched !== true) return undefined;
    return { code: typeof e.code === 'number' ? e.code : -1, signal: typeof e.signal === 'string' ? e.signal : '' };
  } catch {
    return undefined;
  }
}

/** Our QEMU for this VM: a qemu-system binary with `-name banger-<id>,...`. */
export function isOurQemu(cmd: readonly string[], vmId: string): boolean {
  const exe = path.basename(cmd[0] ?? '');
  if (!exe.startsWith('qemu-system-')) return false;
  const name = cmd[cmd.indexOf('-name') + 1];
  return cmd.includes('-name') && name !== undefined && name.split(',')[0] === qemuProcessName(vmId);
}

/** The first line a stream writes, or undefined when it ends, the process exits or time runs out. */
export function firstLine(stream: NodeJS.ReadableStream | null, exited: Promise<unknown>, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (stream === null) return resolve(undefined);
    let buf = '';
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (v: string | undefined): void => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      resolve(v);
    };
    const onData = (d: Buffer | string): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    stream.on('data', onData);
    void exited.then(() => setTimeout(() => finish(buf.includes('\n') ? buf.slice(0, buf.indexOf('\n')) : undefined), 50));
  });
}

export function lastLine(s: string): string {
  return (s.trim().split('\n').pop() ?? '').slice(0, 300);
}
