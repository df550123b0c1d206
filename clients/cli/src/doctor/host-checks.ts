import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { dnsPlan } from '../host-dns/plan.js';
import { resolverFacts, type ResolverFacts } from '../host-dns/resolved.js';
import type { CheckResult, DoctorCheck } from './checks.js';
import { doctorConfig } from './config.js';

const GIB = 1024 ** 3;
/** Below this a build or a VM's disks can run out half-way: warn. */
export const FREE_WARN_BYTES = 10 * GIB;
/** Below this an image build (about 1.5 GiB staged) cannot finish: fail. */
export const FREE_FAIL_BYTES = 2 * GIB;

/** The nearest existing ancestor, so a fresh host reports the filesystem the dir will be on. */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export function spaceResult(name: string, dir: string, freeBytes: number): CheckResult {
  const free = `${(freeBytes / GIB).toFixed(1)} GiB free under ${dir}`;
  if (freeBytes < FREE_FAIL_BYTES) return { name, status: 'fail', detail: `${free} (below ${FREE_FAIL_BYTES / GIB} GiB: builds and new VMs will fail)`, fix: `free space: banger vm prune, banger image prune, or move [paths] to a larger disk` };
  if (freeBytes < FREE_WARN_BYTES) return { name, status: 'warn', detail: `${free} (below ${FREE_WARN_BYTES / GIB} GiB)`, fix: 'banger vm prune; banger image prune' };
  return { name, status: 'pass', detail: free };
}

/** Free space where VMs' disks and the database live (state) and where images are built (cache). */
export const diskSpaceCheck: DoctorCheck = {
  id: 'disk-space',
  async run(ctx) {
    const loaded = doctorConfig(ctx, 'disk space');
    if ('failure' in loaded) return [loaded.failure];
    const { stateDir, cacheDir } = loaded.config.paths;
    return Promise.all(
      [
        ['state dir space', stateDir],
        ['cache dir space', cacheDir],
      ].map(async ([name = '', dir = '']) => {
        const s = await statfs(existingAncestor(dir));
        return spaceResult(name, dir, s.bavail * s.bsize);
      }),
    );
  },
};

/** `[network] netns`: VMs live there, so it must exist before privhelper makes the bridge in it. */
export const netnsCheck: DoctorCheck = {
  id: 'netns',
  async run(ctx) {
    const loaded = doctorConfig(ctx, 'network namespace');
    if ('failure' in loaded) return [loaded.failure];
    const ns = loaded.config.network.netns;
    if (ns === null) return [{ name: 'network namespace', status: 'pass', detail: 'none configured: VMs use the host network namespace' }];
    if (existsSync(`/run/netns/${ns}`)) return [{ name: 'network namespace', status: 'pass', detail: `${ns} exists (/run/netns/${ns})` }];
    return [{ name: 'network namespace', status: 'fail', detail: `[network] netns = "${ns}" but /run/netns/${ns} does not exist: VM networking fails`, fix: `sudo ip netns add ${ns}` }];
  },
};

/** The `.vm` check from facts, so it is tested for hosts with and without resolved. */
export function dnsResult(facts: ResolverFacts, bridge: string, cidr: string, netns: string | null): CheckResult {
  const name = '.vm resolution';
  const plan = dnsPlan(bridge, cidr);
  const direct = `dig @${plan.gateway} NAME.vm`;
  if (netns !== null) {
    return { name, status: 'pass', detail: `VMs live in network namespace ${netns}: ${bridge} is not a host link, so .vm names resolve only inside it (ip netns exec ${netns} ${direct}); reach VMs with banger vm ssh / vm tunnel` };
  }
  const wouldDo = plan.commands.map((c) => c.join(' ')).join('; ');
  if (!facts.resolved) {
    const why = facts.systemd ? 'systemd-resolved is not running' : `systemd is not PID 1 here (PID 1 is ${facts.pid1}) and systemd-resolved is not running`;
    return {
      name,
      status: 'warn',
      detail: `${why}: NAME.vm does not resolve through the host's resolver; banger's DNS answers at ${plan.gateway}:53 (${direct}). Where resolved runs, 'banger system dns' would configure: ${wouldDo}`,
      fix: facts.systemd ? 'sudo systemctl enable --now systemd-resolved, then sudo banger system dns' : `use ${direct}, banger vm ssh NAME, or add 'nameserver ${plan.gateway}' for the vm domain in your own resolver`,
    };
  }
  if (facts.routed) return { name, status: 'pass', detail: `systemd-resolved routes ~vm to ${plan.gateway} on ${bridge}` };
  return { name, status: 'warn', detail: `systemd-resolved runs but ${bridge} has no ~vm routing domain: NAME.vm does not resolve on the host`, fix: 'sudo banger system dns' };
}

export const dnsCheck: DoctorCheck = {
  id: 'dns',
  async run(ctx) {
    const loaded = doctorConfig(ctx, '.vm resolution');
    if ('failure' in loaded) return [loaded.failure];
    const { bridge, cidr, netns } = loaded.config.network;
    return [dnsResult(await resolverFacts(bridge), bridge, cidr, netns)];
  },
};
