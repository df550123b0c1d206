import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, type StageRunner } from '@banger/runtime';
import type { GuestAgent } from '../ports/agent.js';
import type { ImageService } from '../ports/images.js';

export interface BootTimeouts {
  /** From launch until the guest agent answers (TCG boots take 10-40 s on 2 cores). */
  agentMs: number;
  /** Cap on waiting for one declared service, on top of its own timeout. */
  serviceMs: number;
}

/** Waits until the guest agent answers, as its own stage. */
export async function awaitAgent(stages: StageRunner, agent: GuestAgent, socket: string, t: BootTimeouts, signal: AbortSignal): Promise<void> {
  await stages.run('agent', 'guest agent answers', () => agent.waitReady(socket, t.agentMs, signal));
}

/**
 * Waits until each declared service listens on its port inside the guest. The check runs in
 * the guest through the agent (`ss`), so it works whatever the host can route to.
 */
export async function awaitServices(
  stages: StageRunner,
  agent: GuestAgent,
  socket: string,
  services: readonly ImageService[],
  t: BootTimeouts,
  signal: AbortSignal,
): Promise<void> {
  const probed = services.filter((s) => s.readiness === 'tcp' && s.port > 0);
  if (probed.length === 0) {
    await stages.skip('services', 'the image declares no services');
    return;
  }
  await stages.run('services', probed.map((s) => `${s.name}:${s.port}`).join(', '), async () => {
    for (const svc of probed) {
      const deadline = Date.now() + Math.min(svc.timeoutSeconds * 1000, t.serviceMs);
      for (;;) {
        signal.throwIfAborted();
        const res = await agent.exec(socket, ['ss', '-Htln', `sport = :${svc.port}`], { timeoutMs: 15_000 }).catch(() => undefined);
        if (res && res.exitCode === 0 && res.stdout.toString().trim() !== '') break;
        if (Date.now() > deadline) {
          throw new DeadlineExceededError('SERVICE_NOT_READY', `service ${svc.name} is not listening on port ${svc.port}`, { fields: { service: svc.name, port: svc.port } });
        }
        await sleep(1000);
      }
    }
  });
}

/** The last lines of a VM's console log, for failure reports. */
export async function consoleTail(path: string, lines = 25): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(-lines);
}
