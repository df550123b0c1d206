import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, FailedPreconditionError } from '@banger/runtime/errors';
import { log } from '@banger/runtime/logging';
import { StageRunner } from '@banger/runtime/ops';
import type { Subnet } from '../domain/addressing.js';
import type { GuestService, ServiceCredential, Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';
import type { ConsoleLogs } from '../ports/console.js';
import type { DiskSource, HostHelper } from '../ports/host.js';
import type { OperationHandle, StageGate } from '../ports/operation.js';
import type { VmRepository } from '../ports/vms.js';
import { guestSecret, guestText } from '../domain/guest-values.js';
import { consoleTailLines } from './console.js';
import { launchInputFor } from './launch-input.js';
import type { Rollback } from './rollback.js';
import { whileHypervisorRuns } from './while-hypervisor-runs.js';
import { giveBackTap } from './give-back-tap.js';

export interface BootTimeouts {
  /** From launch until the guest agent answers (TCG boots take 10-40 s on 2 cores). */
  agentMs: number;
  /** Cap on waiting for one declared service, on top of its own timeout. */
  serviceMs: number;
}

/** Everything the stages of a create or a start need. */
export interface BootDeps {
  vms: VmRepository;
  host: HostHelper;
  agent: GuestAgent;
  consoleLogs: ConsoleLogs;
  bridge: string;
  subnet: Subnet;
  /** banger's own key, authorised in every VM. */
  sshPublicKey: string;
  timeouts: BootTimeouts;
  gate: StageGate;
}

const SECRET_WAIT_MS = 30_000;

/** Appends keys to root's authorized_keys once each (the same rule as the guest's firstboot). */
const AUTHORISE_KEYS = [
  'set -e; umask 077; mkdir -p /root/.ssh; f=/root/.ssh/authorized_keys; touch "$f"',
  'while IFS= read -r line; do [ -n "$line" ] || continue; grep -qxF -- "$line" "$f" || printf \'%s\\n\' "$line" >> "$f"; done',
  'chmod 0600 "$f"',
].join('\n');

/**
 * The stages a create and a start share (network, boot, agent, services; disks for a create),
 * each reported with its duration and, after it did its work, passed through the stage gate.
 * What a stage makes that the VM does not own yet is recorded on the rollback.
 */
export class BootStages {
  private readonly stages: StageRunner;
  /** The console log of the booted guest, for failure reports. */
  consoleLog = '';

  constructor(
    private readonly deps: BootDeps,
    private readonly op: OperationHandle,
    kind: string,
    private readonly rollback: Rollback,
  ) {
    this.stages = new StageRunner(async (e) => {
      await op.emit(e);
      if (e.type === 'stage_finished' && e.ok) await deps.gate.passed({ opId: op.opId, kind, stage: e.stage });
    });
  }

  run<T>(stage: string, description: string, fn: () => Promise<T>): Promise<T> {
    return this.stages.run(stage, description, fn);
  }

  /**
   * The VM's tap on the bridge and its DNS record. Until the operation succeeds the tap is its
   * own (a failure gives it back); the DNS record is a create's own, a start finds it the VM's.
   */
  async network(vm: Vm, opts: { owned: boolean }): Promise<Vm> {
    const { host, vms, bridge, subnet } = this.deps;
    const detail = opts.owned ? `tap on ${bridge}, ${vm.network.ipv4 ?? ''} as ${vm.name}.vm` : `tap on ${bridge}`;
    return this.stages.run('network', detail, async () => {
      await host.ensureNetwork({ bridge, cidr: subnet.cidr, gateway: subnet.gateway, prefix: subnet.prefix });
      const tap = await host.acquireTap(vm.id);
      // A stopped VM holds no tap, so a failed or interrupted start gives it back too.
      await this.rollback.add('tap', tap, () => giveBackTap({ host, vms }, vm.id));
      if (!vm.network.ipv4 || !vm.network.mac) throw new FailedPreconditionError('VM_HAS_NO_ADDRESS', `vm ${vm.name} has no address or MAC to fence its tap with`);
      await host.fenceVm({ vmId: vm.id, ipv4: vm.network.ipv4, mac: vm.network.mac, egress: vm.egress });
      const updated = await vms.update(vm.id, { network: { tap } });
      await host.syncDns(await vms.dnsRecords());
      if (opts.owned) await this.rollback.add('dns_record', vm.name, async () => host.syncDns((await vms.dnsRecords()).filter((r) => r.name !== vm.name)));
      return updated;
    });
  }

  /** A copy-on-write root overlay of the image and a work disk from its seed, made side by side. */
  async disks(vm: Vm, image: DiskSource): Promise<Vm> {
    const { host, vms } = this.deps;
    return this.stages.run('disks', 'copy-on-write root overlay and work disk', async () => {
      const [root, work] = await Promise.allSettled([host.createRootOverlay(vm.id, image), host.createWorkDisk(vm.id, image, vm.spec.workDiskBytes)]);
      // Whichever exists is recorded before a failure of the other is raised.
      if (root.status === 'fulfilled') await this.rollback.add('overlay', root.value, () => host.removeRootOverlay({ vmId: vm.id, path: root.value }));
      if (work.status === 'fulfilled') await this.rollback.add('work_disk', work.value, () => host.removeWorkDisk({ vmId: vm.id, path: work.value }));
      return vms.update(vm.id, { files: { ...vm.files, rootDisk: settled(root), workDisk: settled(work) } });
    });
  }

  /** Launches the hypervisor; until the operation succeeds, a failure kills it. */
  async boot(vm: Vm): Promise<Vm> {
    const { host, vms, subnet, sshPublicKey } = this.deps;
    return this.stages.run('boot', `${vm.vcpus} vCPU, ${vm.memoryMib} MiB`, async () => {
      const p = await host.launch(launchInputFor(vm, subnet, sshPublicKey));
      this.consoleLog = p.consoleLog;
      await this.rollback.add('process', String(p.pid), async () => void (await host.kill(vm.id)));
      return vms.update(vm.id, { pid: p.pid, files: { ...vm.files, agentSocket: p.agentSocket, consoleLog: p.consoleLog } });
    });
  }

  /**
   * Restores a suspended VM from its saved state (privhelper checks the file and what it was
   * saved on); until the operation succeeds, a failure kills the restored process.
   */
  async restore(vm: Vm): Promise<Vm> {
    const { host, vms, subnet, sshPublicKey } = this.deps;
    return this.stages.run('restore', `saved state of ${vm.memoryMib} MiB`, async () => {
      const p = await host.restore(launchInputFor(vm, subnet, sshPublicKey));
      this.consoleLog = p.consoleLog;
      await this.rollback.add('process', String(p.pid), async () => void (await host.kill(vm.id)));
      return vms.update(vm.id, { pid: p.pid, files: { ...vm.files, agentSocket: p.agentSocket, consoleLog: p.consoleLog } });
    });
  }

  /** Waits until the guest agent answers, then authorises the user's own keys through it. */
  async agent(vm: Vm, sshKeys: readonly string[]): Promise<void> {
    const { agent, timeouts } = this.deps;
    await this.stages.run('agent', 'guest agent answers', async () => {
      await whileHypervisorRuns(this.deps.host, vm, this.op.signal, (signal) => agent.waitReady(vm.files.agentSocket, timeouts.agentMs, signal));
      if (sshKeys.length === 0) return;
      const res = await agent.exec(vm.files.agentSocket, ['/bin/sh', '-c', AUTHORISE_KEYS], { input: Buffer.from(`${sshKeys.join('\n')}\n`), timeoutMs: 30_000, maxOutputBytes: 64 * 1024, overflow: 'fail' });
      if (res.exitCode !== 0 || res.timedOut) {
        throw new FailedPreconditionError('SSH_KEYS_NOT_AUTHORISED', `the guest did not take the ssh keys: ${guestText(res.stderr) || `exit ${res.exitCode}`}`);
      }
    });
  }

  /**
   * Reads each service's per-VM secret through the agent. The guest writes it when the service
   * first starts, shortly after the agent comes up, so a missing file is retried for a while.
   */
  async readSecrets(vm: Vm, services: readonly GuestService[], waitMs = SECRET_WAIT_MS): Promise<ServiceCredential[]> {
    const out: ServiceCredential[] = [];
    const deadline = Date.now() + waitMs;
    for (const s of services.filter((x) => x.secretEnv)) {
      for (;;) {
        const file = await this.deps.agent.readFile(vm.files.agentSocket, `/etc/banger/secrets/${s.name}`, { maxBytes: 4096 }).catch(() => undefined);
        const checked = file ? guestSecret(file) : { refused: 'empty' };
        if ('secret' in checked) {
          out.push({ service: s.name, username: s.name, password: checked.secret });
          break;
        }
        if (checked.refused !== 'empty') {
          log().warn({ service: s.name, reason: checked.refused }, 'service secret written by the guest refused; the VM has no stored credentials for it');
          break;
        }
        if (Date.now() > deadline) {
          log().warn({ service: s.name }, 'service secret not written by the guest yet; the VM has no stored credentials for it');
          break;
        }
        await sleep(250);
      }
    }
    return out;
  }

  /**
   * Waits until each declared service listens on its port inside the guest. The check runs in
   * the guest through the agent (`ss`), so it works whatever the host can route to.
   */
  async services(vm: Vm, opts: { noWait: boolean }): Promise<void> {
    const { agent, timeouts } = this.deps;
    if (opts.noWait) {
      await this.stages.skip('services', 'skipped (--no-wait)');
      return;
    }
    const probed = vm.spec.services.filter((s) => s.readiness === 'tcp' && s.port > 0);
    if (probed.length === 0) {
      await this.stages.skip('services', 'the image declares no services');
      return;
    }
    await this.stages.run('services', probed.map((s) => `${s.name}:${s.port}`).join(', '), () => whileHypervisorRuns(this.deps.host, vm, this.op.signal, async (signal) => {
      for (const svc of probed) {
        const deadline = Date.now() + Math.min(svc.timeoutSeconds * 1000, timeouts.serviceMs);
        for (;;) {
          signal.throwIfAborted();
          const res = await agent.exec(vm.files.agentSocket, ['ss', '-Htln', `sport = :${svc.port}`], { timeoutMs: 15_000, maxOutputBytes: 64 * 1024, overflow: 'fail' }).catch(() => undefined);
          if (res && res.exitCode === 0 && res.stdout.toString().trim() !== '') break;
          if (Date.now() > deadline) {
            throw new DeadlineExceededError('SERVICE_NOT_READY', `service ${svc.name} is not listening on port ${svc.port}`, { fields: { service: svc.name, port: svc.port } });
          }
          await sleep(1000);
        }
      }
    }));
  }

  /** The last lines of the guest's console, for a failure report; undefined before a boot. */
  async consoleTail(lines = 25): Promise<string[] | undefined> {
    if (!this.consoleLog) return undefined;
    const all = await consoleTailLines(this.deps.consoleLogs, this.consoleLog, lines * 4);
    return all
      .map((l) => l.replace(/\r$/, ''))
      .filter((l) => l.trim() !== '')
      .slice(-lines);
  }
}

/** The value of a settled promise, or its rejection thrown. */
export function settled<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}
