import type { Logger } from 'pino';
import { NetError } from '../../domain/network/errors.js';
import { parseTapName, TAP_PREFIX, validateBridgeName, validateTapPrefix } from '../../domain/network/names.js';
import type { NetRunner } from './exec.js';
import { deleteLink, listLinks } from './links.js';
import { NatAdapter } from './nat.js';
import { quietLogger } from './log.js';

export interface CleanupReport {
  readonly taps: readonly string[];
  readonly bridge: boolean;
  readonly natTable: boolean;
}

/**
 * Removes everything banger's network layer creates (its taps, its bridge, its nft table) and
 * nothing else: taps are matched by banger's prefix and tun kind, the bridge by its validated
 * banger name and bridge kind. Idempotent, so uninstall and test teardown can always run it.
 */
export async function cleanupNetwork(run: NetRunner, opts: { bridge: string; tapPrefix?: string | undefined; log?: Logger | undefined }): Promise<CleanupReport> {
  const bridge = validateBridgeName(opts.bridge);
  const prefix = validateTapPrefix(opts.tapPrefix ?? TAP_PREFIX);
  const log = opts.log ?? quietLogger();
  const links = await listLinks(run);
  const taps: string[] = [];
  for (const l of links) {
    if (l.kind === 'tun' && l.tunType === 'tap' && parseTapName(prefix, l.name) !== undefined && (await deleteLink(run, l.name))) taps.push(l.name);
  }
  const br = links.find((l) => l.name === bridge);
  if (br !== undefined && br.kind !== 'bridge') throw new NetError('FAILED_PRECONDITION', 'NOT_A_BRIDGE', `${bridge} is not a bridge; refusing to delete it`, { bridge });
  const bridgeRemoved = br !== undefined && (await deleteLink(run, bridge));
  const { removed } = await new NatAdapter(run, { log }).remove();
  log.info({ taps: taps.length, bridge: bridgeRemoved, nat_table: removed }, 'network cleaned up');
  return { taps, bridge: bridgeRemoved, natTable: removed };
}
