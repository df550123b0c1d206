import { describe, expect, it } from 'vitest';
import { parseSs } from './ss.js';

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
    expect(parseSs(out)).toEqual([
      { protocol: 'udp', address: '0.0.0.0', port: 68, process: 'dhclient', pid: 201 },
      { protocol: 'tcp', address: '0.0.0.0', port: 22, process: 'sshd', pid: 180 },
      { protocol: 'tcp', address: '::', port: 22, process: 'sshd', pid: 180 },
      { protocol: 'tcp', address: '*', port: 4096, process: 'opencode', pid: 250 },
      { protocol: 'tcp', address: '127.0.0.1', port: 631, process: '', pid: 0 },
    ]);
  });
});
