/** One socket listening in the guest. */
export interface GuestPort {
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
  process: string;
  pid: number;
}

/** The most ports one listing reports; a guest claiming more is clamped. */
export const MAX_GUEST_PORTS = 4096;
/** Kernel comm names are at most 15 bytes; anything past this is not a real one. */
const PROCESS = /^[\x20-\x21\x23-\x7e]{1,64}$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;
const MAX_PID = 4_194_304;

/** What a listing kept, and why it dropped or cleared what it did (for the log). */
export interface SsListing {
  ports: GuestPort[];
  problems: string[];
}

/**
 * Parses `ss -Hlntup` lines: Netid State Recv-Q Send-Q Local:Port Peer:Port
 * [users:(("name",pid=N,fd=M))]. The text comes from the guest, so every value is checked
 * before it reaches a client or a host decision: an address that is not an IP (or `*`) or a
 * port outside 1-65535 drops the line; a process name that is not short printable ASCII (a
 * process can name itself anything), or an impossible pid, is cleared; past MAX_GUEST_PORTS the
 * list is cut. Each such case is named in `problems`.
 */
export function parseSs(out: string): SsListing {
  const ports: GuestPort[] = [];
  const problems: string[] = [];
  const lines = out.split('\n');
  for (const [n, line] of lines.entries()) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0];
    if (proto !== 'tcp' && proto !== 'udp') continue;
    if (ports.length >= MAX_GUEST_PORTS) {
      problems.push(`more than ${MAX_GUEST_PORTS} ports listed; the rest dropped`);
      break;
    }
    const local = cols[4] ?? '';
    const idx = local.lastIndexOf(':');
    const port = Number(local.slice(idx + 1));
    const address = local.slice(0, Math.max(0, idx)).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    if (idx < 0 || !/^\d{1,5}$/.test(local.slice(idx + 1)) || port < 1 || port > 65_535) {
      problems.push(`line ${n + 1}: port is not 1-65535; dropped`);
      continue;
    }
    if (address !== '*' && !IPV4.test(address) && !IPV6.test(address)) {
      problems.push(`line ${n + 1}: local address is not an IP address; dropped`);
      continue;
    }
    const users = /users:\(\("([^"]*)",pid=(\d+)/.exec(line);
    let process = users?.[1] ?? '';
    let pid = users ? Number(users[2]) : 0;
    if (users && (!PROCESS.test(process) || !(pid >= 1 && pid <= MAX_PID))) {
      problems.push(`line ${n + 1}: process name or pid not plausible; cleared`);
      process = '';
      pid = 0;
    }
    ports.push({ protocol: proto, address, port, process, pid });
  }
  return { ports, problems };
}
