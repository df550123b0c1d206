import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Account {
  readonly uid: number;
  readonly gid: number;
}

async function getent(db: 'passwd' | 'group', name: string): Promise<string[] | undefined> {
  try {
    const { stdout } = await run('getent', [db, name]);
    return stdout.trim().split(':');
  } catch {
    return undefined;
  }
}

/**
 * The `banger` system user and group, created when missing exactly as the issue and HOST-FACTS
 * describe (`groupadd -r banger`; `useradd -r -g banger -s /usr/sbin/nologin banger`). Idempotent,
 * and safe when several sessions on the machine race to create them.
 */
export async function ensureBangerAccount(): Promise<Account> {
  if (!(await getent('group', 'banger'))) await run('groupadd', ['-r', 'banger']).catch(() => undefined);
  if (!(await getent('passwd', 'banger'))) await run('useradd', ['-r', '-g', 'banger', '-s', '/usr/sbin/nologin', 'banger']).catch(() => undefined);
  const user = await getent('passwd', 'banger');
  const group = await getent('group', 'banger');
  if (!user || !group) throw new Error('could not create the banger user and group (groupadd/useradd failed)');
  const uid = Number(user[2]);
  if (uid === 0) throw new Error('the banger user is uid 0; the attacker must be unprivileged');
  return { uid, gid: Number(group[2]) };
}
