import { readFileSync } from 'node:fs';
import { FailedPreconditionError } from '@banger/runtime/errors';

/**
 * The jail uid range must belong to VMs alone: an account (or a user namespace's subordinate
 * range) inside it could signal, ptrace or read the files of a jailed QEMU. Refuses to start,
 * naming the overlap and the setting to move, when one exists.
 */
export function checkJailRange(base: number, count: number, files = { passwd: '/etc/passwd', group: '/etc/group', subuid: '/etc/subuid', subgid: '/etc/subgid' }): void {
  const end = base + count;
  const inside = (n: number): boolean => n >= base && n < end;
  const read = (f: string): string[] => {
    try {
      return readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    } catch {
      return [];
    }
  };
  const fail = (what: string): never => {
    throw new FailedPreconditionError('JAIL_UIDS_IN_USE', `the VM jail uids ${base}..${end - 1} overlap ${what}; VMs need uids nothing else uses`, {
      fields: { fix: 'move the range: [privhelper] jail_uid_base (and jail_uid_count)' },
    });
  };
  for (const [file, what] of [[files.passwd, 'user'], [files.group, 'group']] as const) {
    for (const l of read(file)) {
      const f = l.split(':');
      if (inside(Number(f[2]))) fail(`${what} ${f[0] ?? '?'} (${file})`);
    }
  }
  for (const file of [files.subuid, files.subgid]) {
    for (const l of read(file)) {
      const [who, start, n] = l.split(':');
      const s = Number(start);
      const c = Number(n);
      if (Number.isFinite(s) && Number.isFinite(c) && s < end && s + c > base) fail(`${who ?? '?'}'s subordinate ids in ${file}`);
    }
  }
}
