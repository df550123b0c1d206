/**
 * File copy throughput into and out of a running Debian guest, per channel and direction, all
 * in one run on one VM so the numbers compare: `vm cp` (what ships), the same TCP stream with no
 * banger process in the path (the NIC's and the guest's ceilings), through `vm tunnel`, ssh over
 * the tunnel, and the guest agent; plus the guest disk alone (dd). Random bytes, so nothing
 * along the way can compress them.
 *
 *   node --import tsx bench/files.ts [--mb N] [--only REGEX] [--dry-run] [--out PATH]
 *
 * Needs what integration/vm needs (root, QEMU, network namespaces, the default image, built or
 * reused from the machine-wide cache). Where the machine cannot boot VMs, or with --dry-run, it
 * writes the result shape with `skipped: "<reason>"` and exits 0. Results: docs/files.md.
 */
import { randomBytes } from 'node:crypto';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { vmv1 } from '@banger/api';
import { buildDefaultImage, collect, createVmStack, vmUnsupportedReason, type VmStack } from '../integration/vm/vmstack.js';
import { guestSh, hostRelayOnly, rawTcp, viaAgent, viaCp, viaSsh, viaTunnel, type Moved } from './files-channels.js';
import { hostFacts, intFlag, parseFlags, round, table, writeResult } from './lib.js';

const VM = 'fbench';
const TARGET_MB_S = 50;

interface Case {
  channel: string;
  direction: 'in' | 'out' | 'guest';
  what: string;
  run(): Promise<Moved>;
}

interface Row {
  channel: string;
  direction: string;
  what: string;
  mb: number;
  seconds: number;
  mb_per_s: number;
  error?: string;
}

async function writeRandom(path: string, mb: number): Promise<void> {
  const f = await open(path, 'w');
  const block = randomBytes(1 << 20);
  for (let i = 0; i < mb; i++) await f.write(i % 2 ? block : randomBytes(1 << 20));
  await f.close();
}

/** dd in the guest: the emulated disk's own rate, the ceiling of anything landing in a file. */
async function guestDd(s: VmStack, script: string): Promise<Moved> {
  const out = await guestSh(s, VM, `{ ${script}; } 2>&1`);
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out);
  if (!m) throw new Error(`dd said: ${out}`);
  return { bytes: Number(m[1]), seconds: Number(m[2]) };
}

function cases(s: VmStack, ip: string, mb: number, big: string, bigTar: string, home: string, back: string): Case[] {
  const tarX = (flags: string) => `rm -rf /root/t && mkdir /root/t && tar -x -f - ${flags} -p --same-owner --numeric-owner -C /root/t`;
  const raw = 'raw TCP in the netns (no banger process)';
  const cp = 'vm cp (shipped: UploadFiles/DownloadFiles → guest tar)';
  const tunnel = 'vm tunnel (CLI → vmd gRPC → ConnectGuest)';
  // Pairs that compare run back to back: load on these shared machines moves by the minute.
  return [
    { channel: 'host only: vmd upload relay + tar entry check → loopback', direction: 'in', what: 'no guest', run: () => hostRelayOnly(bigTar) },
    { channel: 'guest disk (dd, 1 MiB blocks, fsync)', direction: 'guest', what: 'write', run: () => guestDd(s, `dd if=/dev/zero of=/root/dd.bin bs=1M count=${mb} conv=fsync`) },
    { channel: 'guest disk (dd, 1 MiB blocks, cold cache)', direction: 'guest', what: 'read', run: () => guestDd(s, 'sync; echo 3 > /proc/sys/vm/drop_caches; dd if=/root/dd.bin of=/dev/null bs=1M; rm -f /root/dd.bin') },
    { channel: raw, direction: 'in', what: 'guest cat > /dev/null', run: () => rawTcp(s, VM, ip, 'in', 'cat > /dev/null', big) },
    { channel: raw, direction: 'in', what: 'guest cat > file', run: () => rawTcp(s, VM, ip, 'in', 'cat > /root/raw.bin', big) },
    { channel: raw, direction: 'in', what: 'guest tar -x (10 KiB records, tar default; before)', run: () => rawTcp(s, VM, ip, 'in', tarX(''), bigTar) },
    { channel: raw, direction: 'in', what: 'guest tar -x -b 2048 -B (1 MiB records; shipped)', run: () => rawTcp(s, VM, ip, 'in', tarX('-b 2048 -B'), bigTar) },
    // The extracted tree goes first: the guest disk holds raw.bin and one more copy, not two.
    { channel: cp, direction: 'in', what: 'host file → guest file', run: async () => (await guestSh(s, VM, 'rm -rf /root/t'), viaCp(s, big, `${VM}:/root/cp.bin`)) },
    { channel: raw, direction: 'in', what: 'guest tar -x (10 KiB records, tar default; before), again', run: () => rawTcp(s, VM, ip, 'in', tarX(''), bigTar) },
    { channel: raw, direction: 'out', what: 'guest cat file', run: () => rawTcp(s, VM, ip, 'out', 'cat /root/raw.bin') },
    { channel: raw, direction: 'out', what: 'guest tar -c (10 KiB records, tar default; before)', run: () => rawTcp(s, VM, ip, 'out', 'tar -c -f - --numeric-owner -C /root raw.bin') },
    { channel: raw, direction: 'out', what: 'guest tar -c -b 128 (64 KiB records; shipped)', run: () => rawTcp(s, VM, ip, 'out', 'tar -c -b 128 -f - --numeric-owner -C /root raw.bin') },
    { channel: cp, direction: 'out', what: 'guest file → host file', run: () => viaCp(s, `${VM}:/root/cp.bin`, back) },
    { channel: raw, direction: 'out', what: 'guest tar -c (10 KiB records, tar default; before), again', run: () => rawTcp(s, VM, ip, 'out', 'tar -c -f - --numeric-owner -C /root raw.bin') },
    { channel: tunnel, direction: 'in', what: 'guest cat > /dev/null', run: () => viaTunnel(s, VM, 'in', 'cat > /dev/null', big) },
    { channel: tunnel, direction: 'out', what: 'guest cat file', run: () => viaTunnel(s, VM, 'out', 'cat /root/raw.bin') },
    { channel: 'ssh through vm tunnel', direction: 'in', what: 'guest cat > file', run: () => viaSsh(s, VM, home, 'in', 'cat > /root/ssh.bin', big) },
    { channel: 'ssh through vm tunnel', direction: 'out', what: 'guest cat file', run: () => viaSsh(s, VM, home, 'out', 'cat /root/raw.bin') },
    { channel: 'qemu-guest-agent via ExecVm (base64 JSON)', direction: 'in', what: 'guest-exec input-data, 1 MiB', run: () => viaAgent(s, VM, 'in', 1 << 20) },
    { channel: 'qemu-guest-agent via ExecVm (base64 JSON)', direction: 'out', what: 'guest-file-read of output, 3 MiB', run: () => viaAgent(s, VM, 'out', 3 << 20) },
  ];
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['mb', 'only']);
  const mb = intFlag(flags, 'mb', 200);
  const only = flags.values.has('only') ? new RegExp(flags.values.get('only') ?? '') : undefined;
  const params = { mb, only: only?.source ?? null, target_mb_s: TARGET_MB_S };
  const reason = flags.dryRun ? 'dry run' : vmUnsupportedReason();
  if (reason) {
    const path = await writeResult('files', flags, { bench: 'files', params, skipped: reason, rows: [], host: await hostFacts() });
    process.stdout.write(`bench/files skipped: ${reason} (${path})\n`);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'banger-bench-files-'));
  const s = await createVmStack();
  try {
    const big = join(work, 'big.bin');
    await writeRandom(big, mb);
    const bigTar = join(work, 'big.tar');
    execFileSync('tar', ['-c', '-f', bigTar, '--numeric-owner', '-C', work, 'big.bin']);
    await buildDefaultImage(s);
    const created = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: VM, noWait: true }), { timeoutMs: 900_000 }));
    if (created.error !== undefined) throw created.error instanceof Error ? created.error : new Error(JSON.stringify(created.error));
    const ip = (await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: VM }))).vm?.network?.ipv4 ?? '';
    if (!ip) throw new Error('the VM has no address');
    const rows: Row[] = [];
    for (const c of cases(s, ip, mb, big, bigTar, join(work, 'home'), join(work, 'back.bin'))) {
      if (only && !only.test(`${c.channel} ${c.direction} ${c.what}`)) continue;
      try {
        const m = await c.run();
        rows.push({ channel: c.channel, direction: c.direction, what: c.what, mb: round(m.bytes / 1e6, 1), seconds: round(m.seconds, 2), mb_per_s: round(m.bytes / 1e6 / m.seconds, 2) });
      } catch (err) {
        rows.push({ channel: c.channel, direction: c.direction, what: c.what, mb: 0, seconds: 0, mb_per_s: 0, error: (err as Error).message.slice(0, 500) });
      }
      const r = rows[rows.length - 1];
      process.stderr.write(`${r?.channel} ${r?.direction} ${r?.what}: ${r?.error ?? `${r?.mb_per_s} MB/s`}\n`);
    }
    const load = (await import('node:os')).loadavg().map((l) => round(l, 2));
    const path = await writeResult('files', flags, { bench: 'files', params, at: new Date().toISOString(), load_after: load, rows, host: await hostFacts() });
    process.stdout.write(table(['channel', 'dir', 'what', 'MB', 's', 'MB/s'], rows.map((r) => [r.channel, r.direction, r.what, r.mb, r.seconds, r.error ? `ERROR ${r.error.slice(0, 60)}` : r.mb_per_s])) + `(${path})\n`);
  } finally {
    await s.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
