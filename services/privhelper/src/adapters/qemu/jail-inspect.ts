import { readFile, readlink } from 'node:fs/promises';
import type { JailView } from '../../domain/hypervisor/driver.js';
import { readVmLimits } from '../proc/cgroup.js';
import type { JailRecord } from './launch-record.js';

const NAMESPACES = ['mnt', 'net', 'ipc', 'uts', 'pid', 'user', 'cgroup'] as const;

/** A `Key:\tvalue` line of /proc/<pid>/status. */
function field(status: string, key: string): string {
  return new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
}

/**
 * Reads what the kernel says about a jailed QEMU: credentials, seccomp, capabilities,
 * namespaces it does not share with privhelper, and its cgroup's limits. Undefined when the
 * process is gone.
 */
export async function inspectJail(pid: number, record: JailRecord): Promise<JailView | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (status === undefined) return undefined;
  const own: string[] = [];
  for (const ns of NAMESPACES) {
    const [mine, theirs] = await Promise.all([readlink(`/proc/self/ns/${ns}`).catch(() => ''), readlink(`/proc/${pid}/ns/${ns}`).catch(() => '')]);
    if (mine !== '' && theirs !== '' && mine !== theirs) own.push(ns);
  }
  const limits = record.cgroups ? await readVmLimits(record.cgroups).catch(() => null) : null;
  return {
    uid: Number(field(status, 'Uid').split(/\s+/)[0]),
    gid: Number(field(status, 'Gid').split(/\s+/)[0]),
    applied: record.applied,
    skipped: record.skipped,
    seccompMode: Number(field(status, 'Seccomp') || 0),
    capEff: field(status, 'CapEff'),
    capBnd: field(status, 'CapBnd'),
    noNewPrivs: field(status, 'NoNewPrivs') === '1',
    ownNamespaces: own,
    limits: limits && { memoryBytes: finite(limits.memoryBytes), pids: finite(limits.pids), cpu: finite(limits.cpu) },
    cgroups: record.cgroups?.dirs ?? [],
  };
}

/** `max` (no limit) reads as NaN; report it as 0 rather than a bogus number. */
function finite(n: number): number {
  return Number.isFinite(n) ? n : 0;
}
