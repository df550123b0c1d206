import { afterEach, describe, expect, it } from 'vitest';
import { fakeQga, type FakeQga } from '../../testing/fake-qga.js';
import { QemuGuestAgent } from './guest-agent.js';

/** `slow` runs for 12 status polls (a second or more); anything else exits at the first. */
const programs = (argv: string[]): { stdout: Buffer; polls: number } => ({ stdout: Buffer.from(`${argv.join(' ')}\n`), polls: argv[0] === 'slow' ? 12 : 0 });

describe('QemuGuestAgent queueing per VM', () => {
  let agent: FakeQga | undefined;
  afterEach(async () => agent?.close());

  /** When a quick exec finished relative to a slow streamed command started just before it. */
  async function quickWhileSlow(shareAgent: boolean): Promise<'before' | 'after'> {
    agent = await fakeQga({ program: programs });
    const qga = new QemuGuestAgent();
    let slowDone = false;
    const slow = qga.execStream(agent.path, ['slow'], async () => undefined, { timeoutMs: 30_000, shareAgent }).then((r) => {
      slowDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    const quick = await qga.exec(agent.path, ['quick']);
    expect(quick.stdout.toString()).toBe('quick\n');
    const when = slowDone ? 'after' : 'before';
    expect((await slow).exitCode).toBe(0);
    return when;
  }

  it('a shared-agent stream (a copy\'s guest tar) lets another exec to the VM run meanwhile', async () => {
    expect(await quickWhileSlow(true)).toBe('before');
  });

  it('without it, the other exec waits for the stream to end (one agent client at a time)', async () => {
    expect(await quickWhileSlow(false)).toBe('after');
  });
});
