import type { NetRunner } from './exec.js';
import { classify, tolerate } from './exec.js';

/** The fields of `ip -j -d link` banger relies on. */
export interface LinkInfo {
  readonly name: string;
  /** linkinfo.info_kind: 'bridge', 'tun', 'veth'...; undefined for plain devices like lo. */
  readonly kind: string | undefined;
  /** 'tap' or 'tun' for tun devices. */
  readonly tunType: string | undefined;
  /** Owner uid, or the user name when `ip` resolved it. */
  readonly tunOwner: number | string | undefined;
  readonly master: string | undefined;
  readonly alias: string | undefined;
  readonly up: boolean;
  /** LOWER_UP on an up tap: some process (QEMU) holds its file descriptor. */
  readonly carrier: boolean;
  readonly mtu: number | undefined;
}

interface RawLink {
  ifname?: unknown;
  flags?: unknown;
  master?: unknown;
  ifalias?: unknown;
  mtu?: unknown;
  linkinfo?: { info_kind?: unknown; info_data?: { type?: unknown; user?: unknown } };
}

function toLink(r: RawLink): LinkInfo | undefined {
  if (typeof r.ifname !== 'string') return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const user = r.linkinfo?.info_data?.user;
  return {
    name: r.ifname,
    kind: str(r.linkinfo?.info_kind),
    tunType: str(r.linkinfo?.info_data?.type),
    tunOwner: typeof user === 'number' || typeof user === 'string' ? user : undefined,
    master: str(r.master),
    alias: str(r.ifalias),
    up: Array.isArray(r.flags) && r.flags.includes('UP'),
    carrier: Array.isArray(r.flags) && r.flags.includes('LOWER_UP'),
    mtu: typeof r.mtu === 'number' ? r.mtu : undefined,
  };
}

function parse(stdout: string): LinkInfo[] {
  const raw: unknown = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  if (!Array.isArray(raw)) return [];
  return raw.map((r) => toLink(r as RawLink)).filter((l): l is LinkInfo => l !== undefined);
}

export async function listLinks(run: NetRunner): Promise<LinkInfo[]> {
  try {
    return parse((await run.ip(['-j', '-d', 'link', 'show'])).stdout);
  } catch (err) {
    throw classify(err, 'list links');
  }
}

/** One link, or undefined when it does not exist. */
export async function getLink(run: NetRunner, name: string): Promise<LinkInfo | undefined> {
  const out = await tolerate(() => run.ip(['-j', '-d', 'link', 'show', 'dev', name]), `show ${name}`, ['NOT_FOUND'], { ifname: name });
  return out === undefined ? undefined : parse(out.stdout)[0];
}

/** Deletes a link; absent is fine. Returns whether something was deleted. */
export async function deleteLink(run: NetRunner, name: string): Promise<boolean> {
  const out = await tolerate(() => run.ip(['link', 'del', 'dev', name]), `delete ${name}`, ['NOT_FOUND'], { ifname: name });
  return out !== undefined;
}
