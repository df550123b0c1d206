/** One socket listening in the guest. */
export interface GuestPort {
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
  process: string;
  pid: number;
}

/** Parses `ss -Hlntup` lines: Netid State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M))]. */
export function parseSs(out: string): GuestPort[] {
  const ports: GuestPort[] = [];
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0];
    if (proto !== 'tcp' && proto !== 'udp') continue;
    const local = cols[4] ?? '';
    const idx = local.lastIndexOf(':');
    if (idx < 0) continue;
    const port = Number(local.slice(idx + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, idx).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const users = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    ports.push({ protocol: proto, address, port, process: users?.[1] ?? '', pid: users ? Number(users[2]) : 0 });
  }
  return ports;
}
