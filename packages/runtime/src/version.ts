/**
 * API compatibility between banger processes. Clients send `x-banger-api-version: MAJOR.MINOR`;
 * a server accepts any minor of its own major (and a missing header, for older peers).
 */
export const API_VERSION = '1';

export const API_VERSION_METADATA_KEY = 'x-banger-api-version';

export type VersionVerdict = { ok: true } | { ok: false; message: string };

export function checkApiVersion(inbound: string | undefined, server: string = API_VERSION): VersionVerdict {
  if (inbound === undefined || inbound === server) return { ok: true };
  const m = /^(\d{1,4})(?:\.(\d{1,4}))?$/.exec(inbound.trim());
  const serverMajor = server.split('.')[0];
  if (!m) return { ok: false, message: `malformed ${API_VERSION_METADATA_KEY} ${JSON.stringify(inbound)}: expected MAJOR.MINOR, server speaks ${server}` };
  if (m[1] !== serverMajor) return { ok: false, message: `client API version ${inbound} is incompatible with server API version ${server}` };
  return { ok: true };
}

/** The banger release, shown by `banger version` for the client and each daemon. */
export const BANGER_VERSION = '0.1.0';

const startedAt = new Date();

/** What GetServerInfo answers for this process (`banger version`, doctor). */
export function serverInfo(name: string): { name: string; version: string; apiVersion: string; startedAt: Date; pid: number } {
  return { name, version: BANGER_VERSION, apiVersion: API_VERSION, startedAt, pid: process.pid };
}
