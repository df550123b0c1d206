import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../services/privhelper/src/adapters/qemu/qmp.js';
import { READY_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason } from '../privhelper/setup.js';
import { waitForConsole } from '../harness/guest.js';

/*
 * Issue 12, part 2: the jail checked as an attacker would check it. Two tiny guests run under a
 * real privhelper; every assertion reads the kernel's view of the QEMU processes (/proc, the
 * cgroup files) or makes QEMU itself try what a guest that took it over would try, through its
 * own QMP monitor: open a host file, start a process. The cross-VM checks run as the VM's own
 * uid, never as root. On the parent commit (QEMU as root, no sandbox) every test here fails.
 */

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] QEMU jail checks: ${skip}`);

const GUEST_MIB = 256;
const OVERHEAD_MIB = 256;
const PIDS_MAX = 256;
const UID_BASE = 2_000_000_000;
const UID_COUNT = 65536;

interface Status {
  uid: number[];
  gid: number[];
  groups: string;
  seccomp: number;
  capEff: string;
  capBnd: string;
  capPrm: string;
  noNewPrivs: boolean;
}

async function procStatus(pid: number): Promise<Status> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const get = (k: string): string => new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return {
    uid: get('Uid').split(/\s+/).map(Number),
    gid: get('Gid').split(/\s+/).map(Number),
    groups: get('Groups'),
    seccomp: Number(get('Seccomp')),
    capEff: get('CapEff'),
    capBnd: get('CapBnd'),
    capPrm: get('CapPrm'),
    noNewPrivs: get('NoNewPrivs') === '1',
  };
}

/** A cgroup file of the process's cgroup for a controller (v1 hierarchy or the v2 unified one). */
async function cgroupFile(pid: number, controller: string, v1: string, v2: string): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
  const v1Line = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (v1Line) return readFile(path.join('/sys/fs/cgroup', controller, v1Line.split(':')[2] ?? '', v1), 'utf8').then((s) => s.trim());
  const unified = lines.find((l) => l.startsWith('0::'));
  if (!unified) throw new Error(`pid ${pid} is in no ${controller} cgroup: ${lines.join(' | ')}`);
  return readFile(path.join('/sys/fs/cgroup', unified.slice(3), v2), 'utf8').then((s) => s.trim());
}

/** Runs a node snippet as an unprivileged uid/gid and returns what it printed. */
function runAs(uid: number, gid: number, code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { uid, gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (c) => (c === 0 ? resolve(out.trim()) : reject(new Error(`exit ${c}: ${err}`))));
  });
}

describe.skipIf(skip !== undefined)('QEMU jail: two tiny guests, checked from outside and attacked from inside QEMU', () => {
  let f: HelperFixture;
  const tag = randomBytes(2).toString('hex');
  const ids = [`ja-${tag}`, `jb-${tag}`] as const;
  const procs = new Map<string, helperv2.HypervisorProcess>();
  const pid = (id: string): number => procs.get(id)!.pid;

  beforeAll(async () => {
    f = await HelperFixture.start({
      privhelper: [`jail_uid_base = ${UID_BASE}`, `jail_uid_count = ${UID_COUNT}`, `qemu_memory_overhead_mib = ${OVERHEAD_MIB}`, `jail_pids_max = ${PIDS_MAX}`],
      vm: [`default_memory_mib = ${GUEST_MIB}`, 'max_memory_mib = 512', 'max_vcpus = 2'],
    });
    const kernel = await f.installTinyKernel();
    await f.putImage('img-jail');
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
    for (const [i, vmId] of ids.entries()) {
      await f.call('acquireTap', { vmId, bridge: f.bridge });
      await f.call('createOverlay', { vmId, image: 'img-jail' });
      const spec = helperv2.HypervisorSpec.fromPartial({
        vmId,
        kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
        memoryMib: GUEST_MIB,
        vcpus: i + 1,
        kernel,
        cmdline: [
          { key: 'console', value: 'ttyS0' },
          { key: 'panic', value: '-1' },
        ],
        workDisk: false,
        network: { mac: `02:42:0a:d5:00:1${i}` },
      });
      const p = (await f.call('launchHypervisor', { spec })).process!;
      f.qemuPids.add(p.pid);
      procs.set(vmId, p);
    }
    for (const id of ids) await waitForConsole(procs.get(id)!.sockets!.consoleLogPath, READY_MARKER, 180_000);
  }, 420_000);

  afterAll(async () => {
    await f?.close();
  });

  it('each QEMU runs as a uid and gid of its own from the jail range, no groups, no capabilities, no_new_privs, seccomp filter', async () => {
    const seen = new Set<number>();
    for (const id of ids) {
      const st = await procStatus(pid(id));
      // Real, effective, saved and filesystem ids alike: nothing to switch back to.
      expect(new Set(st.uid).size, `${id} uids ${st.uid.join(' ')}`).toBe(1);
      expect(new Set(st.gid).size).toBe(1);
      const uid = st.uid[0]!;
      expect(uid).toBeGreaterThanOrEqual(UID_BASE);
      expect(uid).toBeLessThan(UID_BASE + UID_COUNT);
      expect(st.gid[0]).toBe(uid);
      expect(st.groups).toBe('');
      expect(seen.has(uid)).toBe(false);
      seen.add(uid);
      expect({ capEff: st.capEff, capPrm: st.capPrm, capBnd: st.capBnd }).toEqual({ capEff: '0000000000000000', capPrm: '0000000000000000', capBnd: '0000000000000000' });
      expect(st.noNewPrivs).toBe(true);
      expect(st.seccomp).toBe(2);
      // privhelper reports the same live facts, and that no layer was skipped.
      const jail = (await f.call('findHypervisor', { vmId: id })).process?.jail;
      expect(jail).toMatchObject({ uid, gid: uid, seccompMode: 2, capEff: st.capEff, capBnd: st.capBnd, noNewPrivs: true, layersSkipped: [] });
      expect([...(jail?.layersApplied ?? [])].sort()).toEqual(['cgroup', 'namespaces', 'no_new_privs', 'seccomp', 'uid']);
    }
  });

  it('each QEMU has its own mount, network, IPC and UTS namespaces, and its root holds only /usr, its kernel and a few devices', async () => {
    for (const id of ids) {
      const p = pid(id);
      for (const ns of ['mnt', 'net', 'ipc', 'uts']) {
        expect(await readlink(`/proc/${p}/ns/${ns}`), `${id} ${ns}`).not.toBe(await readlink(`/proc/self/ns/${ns}`));
      }
      expect([...((await f.call('findHypervisor', { vmId: id })).process?.jail?.ownNamespaces ?? [])]).toEqual(expect.arrayContaining(['mnt', 'net', 'ipc', 'uts']));
      const root = `/proc/${p}/root`;
      // /usr, and the merged-/usr links into it (bin, lib, lib64, sbin) so ld.so finds its libraries.
      const top = (await readdir(root)).sort();
      expect(top.filter((e) => !['bin', 'lib', 'lib64', 'sbin'].includes(e))).toEqual(['boot', 'dev', 'etc', 'usr']);
      for (const l of top.filter((e) => ['bin', 'lib', 'lib64', 'sbin'].includes(e))) expect(await readlink(`${root}/${l}`)).toBe(`usr/${l}`);
      expect((await readdir(`${root}/boot`)).sort()).toEqual(['initrd.img', 'vmlinux']);
      expect((await readdir(`${root}/dev`)).every((d) => ['null', 'zero', 'urandom', 'random', 'net', 'kvm'].includes(d))).toBe(true);
      expect(await readdir(`${root}/etc`)).not.toContain('shadow');
      // Only loopback in its network namespace: the tap is a descriptor, not an interface.
      const dev = await readFile(`/proc/${p}/net/dev`, 'utf8');
      expect(dev.split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0]!.trim())).toEqual(['lo']);
    }
    // The two VMs do not share a mount namespace either.
    expect(await readlink(`/proc/${pid(ids[0])}/ns/mnt`)).not.toBe(await readlink(`/proc/${pid(ids[1])}/ns/mnt`));
  });

  it("each VM's cgroup limits memory to guest RAM plus QEMU's overhead, pids, and weights CPU by vCPUs; the boot's peak use fits", async () => {
    for (const [i, id] of ids.entries()) {
      const p = pid(id);
      const limit = Number(await cgroupFile(p, 'memory', 'memory.limit_in_bytes', 'memory.max'));
      expect(limit).toBe((GUEST_MIB + OVERHEAD_MIB) * 1024 * 1024);
      expect(Number(await cgroupFile(p, 'pids', 'pids.max', 'pids.max'))).toBe(PIDS_MAX);
      const cpu = Number(await cgroupFile(p, 'cpu', 'cpu.shares', 'cpu.weight'));
      expect([1024 * (i + 1), 100 * (i + 1)]).toContain(cpu);
      const jail = (await f.call('findHypervisor', { vmId: id })).process?.jail;
      expect(jail).toMatchObject({ memoryLimitBytes: limit, pidsMax: PIDS_MAX, cpuWeight: cpu });
      // What the boot really used stays under the limit (bench/vm.ts measures QEMU's PSS with the real image).
      const peak = Number(await cgroupFile(p, 'memory', 'memory.max_usage_in_bytes', 'memory.peak'));
      console.info(`[jail] ${id}: cgroup peak ${Math.round(peak / 1024 / 1024)} MiB of a ${limit / 1024 / 1024} MiB limit`);
      expect(peak).toBeLessThan(limit);
    }
  });

  it("a VM's uid cannot signal, ptrace or read the memory of another VM's QEMU (and can its own)", async () => {
    const [a, b] = ids.map((id) => pid(id)) as [number, number];
    const { uid: [uidA] } = await procStatus(a);
    const probe = (target: number): string =>
      `const fs=require('fs');const r=[];` +
      `try{process.kill(${target},0);r.push('signal:ok')}catch(e){r.push('signal:'+e.code)}` +
      `try{fs.closeSync(fs.openSync('/proc/${target}/mem','r'));r.push('mem:ok')}catch(e){r.push('mem:'+e.code)}` +
      `try{fs.readFileSync('/proc/${target}/environ');r.push('environ:ok')}catch(e){r.push('environ:'+e.code)}` +
      `console.log(r.join(' '))`;
    expect(await runAs(uidA!, uidA!, probe(b))).toBe('signal:EPERM mem:EACCES environ:EACCES');
    // The same probe at its own QEMU: the uid is the barrier, not a broken probe. (Its own
    // /proc/<pid>/mem stays closed to it: the process is not dumpable after the uid change.)
    expect(await runAs(uidA!, uidA!, probe(a))).toMatch(/^signal:ok /);
  });

  it('QEMU cannot open a root-only host file, even when told to by its own monitor', async () => {
    const qmp = await QmpClient.connect(procs.get(ids[0])!.sockets!.controlPath);
    try {
      const open = (filename: string, node: string): Promise<string> =>
        qmp.execute('blockdev-add', { driver: 'file', filename, 'node-name': node, 'read-only': true }).then(
          () => 'opened',
          (e: unknown) => (e as Error).message,
        );
      // Control: the monitor works and QEMU opens what its jail does hold.
      expect(await open('/boot/vmlinux', 'ctl')).toBe('opened');
      for (const [i, file] of ['/etc/shadow', '/proc/1/root/etc/shadow', '/root/.bash_history', f.helperState].entries()) {
        expect(await open(file, `x${i}`), file).toMatch(/No such file or directory|Permission denied|Is a directory|Could not open/);
      }
    } finally {
      qmp.close();
    }
    expect(await procStatus(pid(ids[0]))).toMatchObject({ seccomp: 2 });
  });

  it('QEMU cannot start a process: a migration to exec: is killed by its seccomp filter (SIGSYS), and Wait reports the signal', async () => {
    const id = ids[1];
    const escaped = `/tmp/banger-jail-escaped-${tag}`;
    const qmp = await QmpClient.connect(procs.get(id)!.sockets!.controlPath);
    try {
      await qmp.execute('migrate', { uri: `exec:/usr/bin/touch ${escaped}` }).catch(() => undefined);
    } finally {
      qmp.close();
    }
    const waited = await f.call('waitHypervisor', { vmId: id, timeout: { seconds: 30, nanos: 0 } });
    expect(waited).toMatchObject({ exited: true, exit: { signal: 'SIGSYS' } });
    await expect(readFile(escaped)).rejects.toMatchObject({ code: 'ENOENT' });
    // The other VM runs on.
    expect((await f.call('findHypervisor', { vmId: ids[0] })).process?.pid).toBe(pid(ids[0]));
  });
});
