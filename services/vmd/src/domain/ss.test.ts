import { describe, expect, it } from 'vitest';
import { MAX_GUEST_PORTS, parseSs } from './ss.js';

describe('parseSs', () => {
  it('parses listening sockets with their processes', () => {
    const out = [
      'udp   UNCONN 0      0            0.0.0.0:68        0.0.0.0:*    users:(("dhclient",pid=201,fd=6))',
      'tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=180,fd=3))',
      'tcp   LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=180,fd=4))',
      'tcp   LISTEN 0      511                *:4096            *:*    users:(("opencode",pid=250,fd=20))',
      'tcp   LISTEN 0      5       127.0.0.1%lo:631       0.0.0.0:*',
      '',
    ].join('\n');
    expect(parseSs(out)).toEqual({
      ports: [
        { protocol: 'udp', address: '0.0.0.0', port: 68, process: 'dhclient', pid: 201 },
        { protocol: 'tcp', address: '0.0.0.0', port: 22, process: 'sshd', pid: 180 },
        { protocol: 'tcp', address: '::', port: 22, process: 'sshd', pid: 180 },
        { protocol: 'tcp', address: '*', port: 4096, process: 'opencode', pid: 250 },
        { protocol: 'tcp', address: '127.0.0.1', port: 631, process: '', pid: 0 },
      ],
      problems: [],
    });
  });

  it('clears a process name with control characters, invalid UTF-8 or an absurd pid, naming why', () => {
    const evil = Buffer.concat([
      Buffer.from('tcp LISTEN 0 1 0.0.0.0:80 0.0.0.0:* users:(("a\x1b[31mb",pid=1,fd=3))\n'),
      Buffer.from('tcp LISTEN 0 1 0.0.0.0:81 0.0.0.0:* users:(("'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('",pid=2,fd=3))\n'),
      Buffer.from(`tcp LISTEN 0 1 0.0.0.0:82 0.0.0.0:* users:(("${'x'.repeat(500)}",pid=3,fd=3))\n`),
      Buffer.from('tcp LISTEN 0 1 0.0.0.0:83 0.0.0.0:* users:(("ok",pid=99999999999,fd=3))\n'),
    ]).toString('utf8');
    const { ports, problems } = parseSs(evil);
    expect(ports.map((p) => [p.port, p.process, p.pid])).toEqual([
      [80, '', 0],
      [81, '', 0],
      [82, '', 0],
      [83, '', 0],
    ]);
    expect(problems).toHaveLength(4);
  });

  it('drops lines whose port or address is not one', () => {
    const { ports, problems } = parseSs(
      ['tcp LISTEN 0 1 0.0.0.0:0 *:*', 'tcp LISTEN 0 1 0.0.0.0:70000 *:*', 'tcp LISTEN 0 1 evil.example:80 *:*', 'tcp LISTEN 0 1 0.0.0.0:1e3 *:*', 'tcp LISTEN 0 1 0.0.0.0:443 *:*'].join('\n'),
    );
    expect(ports.map((p) => p.port)).toEqual([443]);
    expect(problems).toHaveLength(4);
  });

  it(`keeps at most ${MAX_GUEST_PORTS} ports`, () => {
    const { ports, problems } = parseSs(Array.from({ length: MAX_GUEST_PORTS + 10 }, () => 'udp UNCONN 0 0 0.0.0.0:53 *:*').join('\n'));
    expect(ports).toHaveLength(MAX_GUEST_PORTS);
    expect(problems).toEqual([`more than ${MAX_GUEST_PORTS} ports listed; the rest dropped`]);
  });
});
