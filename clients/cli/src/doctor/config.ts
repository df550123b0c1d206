import { loadConfig, type BangerConfig } from '@banger/config';
import type { CommandContext } from '../context.js';
import type { CheckResult } from './checks.js';

/**
 * The configuration the checks read paths and names from: the same file the daemons use when
 * BANGER_CONFIG points at it, else the user's or /etc/banger/config.toml. A config that does
 * not load is one failed result, not a crash of the whole doctor.
 */
export function doctorConfig(ctx: CommandContext, name: string): { config: BangerConfig } | { failure: CheckResult } {
  try {
    return { config: loadConfig({ env: ctx.io.env }) };
  } catch (err) {
    return { failure: { name, status: 'fail', detail: `cannot read the configuration: ${err instanceof Error ? err.message : String(err)}`, fix: 'fix the file named above (banger doctor reads BANGER_CONFIG, else /etc/banger/config.toml)' } };
  }
}

/** How to start each daemon: the fix a check gives when one is down. */
export const START_FIX: Record<string, string> = {
  vmd: 'sudo systemctl start banger-vmd',
  imaged: 'sudo systemctl start banger-imaged',
  privhelper: 'sudo systemctl start banger-privhelper',
};
