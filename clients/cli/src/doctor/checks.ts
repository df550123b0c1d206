import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import * as helperv2 from '@banger/api/helper';
import { API_VERSION, BANGER_VERSION, RpcError } from '@banger/runtime';
import type { CommandContext } from '../context.js';
import { probeDaemons, probeFailure } from '../commands/version.js';
import { diskSpaceCheck, dnsCheck, netnsCheck } from './host-checks.js';
import { START_FIX } from './config.js';
import { leftoversCheck } from './leftovers-check.js';
import { databaseCheck, imagesCheck } from './store-checks.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** Command that fixes a warn/fail, when one exists. */
  fix?: string;
}

export interface DoctorOptions {
  deep: boolean;
}

/**
 * One doctor check. Checks are plain data in DOCTOR_CHECKS so a new prerequisite is one entry;
 * a check may return several results (the host probe returns one per host capability).
 */
export interface DoctorCheck {
  id: string;
  run(ctx: CommandContext, options: DoctorOptions): Promise<CheckResult[]>;
}

const daemonsCheck: DoctorCheck = {
  id: 'daemons',
  async run(ctx) {
    const probes = await probeDaemons(ctx, 3000);
    return probes.map((p): CheckResult => {
      if (!p.ok) {
        const refused = p.error instanceof RpcError && p.error.codeName === 'PERMISSION_DENIED';
        return {
          name: p.name,
          status: 'fail',
          detail: probeFailure(p),
          fix: refused ? `add your uid to privhelper's allowed_uids (or run as a member of the banger group)` : (START_FIX[p.name] ?? ''),
        };
      }
      const major = p.info.apiVersion.split('.')[0];
      if (major !== API_VERSION.split('.')[0]) {
        return { name: p.name, status: 'fail', detail: `speaks API ${p.info.apiVersion}, this client speaks ${API_VERSION}`, fix: 'install matching banger versions' };
      }
      const detail = `v${p.info.version} (api ${p.info.apiVersion}, pid ${p.info.pid}) at ${p.socket}`;
      if (p.info.version !== BANGER_VERSION) return { name: p.name, status: 'warn', detail: `${detail}; client is v${BANGER_VERSION}`, fix: 'restart the daemons after upgrading' };
      return { name: p.name, status: 'pass', detail };
    });
  },
};

const STATUS: Record<number, CheckStatus> = {
  [helperv2.CheckStatus.CHECK_STATUS_PASS]: 'pass',
  [helperv2.CheckStatus.CHECK_STATUS_WARN]: 'warn',
  [helperv2.CheckStatus.CHECK_STATUS_FAIL]: 'fail',
};

const hostCheck: DoctorCheck = {
  id: 'host',
  async run(ctx, options) {
    try {
      const res = await ctx.helper().unary('probeHost', { deep: options.deep }, ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? (options.deep ? 60_000 : 10_000) }));
      const checks = res.capabilities?.checks ?? [];
      if (checks.length === 0) return [{ name: 'host', status: 'warn', detail: 'privhelper reported no host checks' }];
      return checks.map((c) => ({ name: c.name, status: STATUS[c.status] ?? 'warn', detail: c.detail, ...(c.fix ? { fix: c.fix } : {}) }));
    } catch (err) {
      const detail =
        err instanceof RpcError && err.unreachable
          ? `cannot probe the host: privhelper unreachable at ${ctx.globals.helperSocket} (${err.opId ?? 'no op id'})`
          : `cannot probe the host through privhelper: ${err instanceof RpcError ? `${err.codeName}: ` : ''}${err instanceof Error ? err.message : String(err)}`;
      return [{ name: 'host', status: 'fail', detail, fix: START_FIX['privhelper'] ?? '' }];
    }
  },
};

async function onPath(env: Record<string, string | undefined>, program: string): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const sshClientCheck: DoctorCheck = {
  id: 'ssh-client',
  async run(ctx) {
    const found = await onPath(ctx.io.env, 'ssh');
    return [
      found
        ? { name: 'ssh client', status: 'pass', detail: found }
        : { name: 'ssh client', status: 'warn', detail: "ssh not found in PATH; 'banger vm ssh' needs it", fix: 'sudo apt-get install openssh-client' },
    ];
  },
};

/** Every check `banger doctor` runs, in order. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [daemonsCheck, hostCheck, databaseCheck, imagesCheck, diskSpaceCheck, netnsCheck, dnsCheck, leftoversCheck, sshClientCheck];
