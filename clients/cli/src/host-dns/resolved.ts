import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { run } from '../commands/system-common.js';
import { RESOLVECTL } from './plan.js';

/** What this host runs for name resolution, as far as banger's `.vm` names are concerned. */
export interface ResolverFacts {
  /** PID 1's command name (`systemd`, `tini`, `bash`...). */
  pid1: string;
  systemd: boolean;
  /** systemd-resolved answers (its varlink socket exists and resolvectl works). */
  resolved: boolean;
  /** `resolvectl domain BRIDGE` lists `~vm`: the routing domain is on the bridge now. */
  routed: boolean;
}

export async function resolverFacts(bridge: string): Promise<ResolverFacts> {
  const pid1 = (await readFile('/proc/1/comm', 'utf8').catch(() => 'unknown')).trim();
  const systemd = existsSync('/run/systemd/system');
  const resolved = existsSync('/run/systemd/resolve/io.systemd.Resolve') && existsSync(RESOLVECTL) && (await run(RESOLVECTL, ['status', '--no-pager'])).code === 0;
  const routed = resolved && /(^|\s)~vm(\s|$)/.test((await run(RESOLVECTL, ['domain', bridge])).stdout);
  return { pid1, systemd, resolved, routed };
}
