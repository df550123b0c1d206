import { commonv1, vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';
import { postgresAvailability, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { drain, getOperation, summary, vmClient, type VmClient } from '../operations/helpers.js';

const ROUNDS = 5;
const avail = await postgresAvailability();
if (!avail.ok) console.warn(`durability on external PostgreSQL SKIPPED: ${avail.reason}`);

interface Backend {
  name: string;
  skip: boolean;
  /** The embedded default's database lives in its own process (the cluster's postmaster): it is killed too. */
  embedded: boolean;
  /** Extra config for the stack, e.g. the external database's URL; '' for the embedded default. */
  config(): Promise<string>;
  dispose(): Promise<void>;
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} survived SIGKILL`);
}

let pg: PostgresServer | undefined;
const BACKENDS: Backend[] = [
  { name: 'the embedded default', skip: false, embedded: true, config: async () => '', dispose: async () => undefined },
  {
    name: 'external PostgreSQL',
    skip: !avail.ok,
    embedded: false,
    config: async () => {
      pg = await startPostgres();
      return `[database]\nurl = "${await pg.createDatabase()}"`;
    },
    dispose: async () => pg?.dispose(),
  },
];

/**
 * Told committed means committed: vmd streams an operation's events only after the store
 * committed them, so the last event a client saw must survive a SIGKILL of vmd sent the moment
 * it arrived (before the stream even ended), on whichever database vmd uses; on the embedded
 * default the process owning the database (vmd's cluster's postmaster) is killed with it. Each round: a
 * create that fails at preflight (no such image), the daemon killed on its failure event,
 * restarted, and the operation read back: the same events, failed with its own reason (not
 * re-marked INTERRUPTED, which is what a lost final write would look like).
 */
describe.each(BACKENDS)('durability of what vmd told a client, on $name', (backend) => {
  let stack: Stack;
  let vmd: VmClient;

  beforeAll(async () => {
    if (backend.skip) return;
    stack = await createStack({ extraConfig: await backend.config() });
    await stack.start('privhelper');
    await stack.start('imaged');
    await stack.start('vmd');
    vmd = vmClient(stack);
  }, 120_000);

  afterAll(async () => {
    vmd?.close();
    await stack?.close();
    await backend.dispose();
  });

  it.skipIf(backend.skip)(`keeps the final event and state of ${ROUNDS} operations, each followed at once by SIGKILL of vmd`, async () => {
    const rows: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const pid = stack.daemons.vmd?.child.pid ?? 0;
      const dbPid = backend.embedded ? stack.embeddedDbPid('vmd') : undefined;
      if (backend.embedded) expect(dbPid, "vmd's embedded cluster runs").toBeGreaterThan(0);
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: `d${round}`, image: 'no-such-image' }), { timeoutMs: 60_000 });
      const seen: vmv1.OperationEvent[] = [];
      await drain(
        (async function* () {
          for await (const res of stream) {
            if (res.event) seen.push(res.event);
            if (res.event?.body?.$case === 'failure') {
              process.kill(pid, 'SIGKILL');
              if (dbPid !== undefined) process.kill(dbPid, 'SIGKILL');
              return;
            }
            yield res;
          }
        })(),
      );
      const opId = seen[0]?.opId ?? '';
      expect(seen.at(-1)?.body?.$case).toBe('failure');
      vmd.close();
      await stack.stop('vmd', 'SIGKILL');
      if (dbPid !== undefined) await waitGone(dbPid);
      await stack.start('vmd');
      if (dbPid !== undefined) expect(stack.embeddedDbPid('vmd'), 'a new postmaster, after crash recovery').not.toBe(dbPid);
      vmd = vmClient(stack);

      const op = await getOperation(vmd, opId);
      expect(op).toMatchObject({ opId, state: commonv1.OperationState.OPERATION_STATE_FAILED, lastSeq: seen.length });
      expect(op.error?.reason).not.toBe('INTERRUPTED');
      const replay = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 0 }));
      expect(summary(replay.events)).toEqual(summary(seen));
      rows.push(`| ${round} | ${opId} | ${seen.length} | failed (${op.error?.reason ?? ''}) | ${replay.events.length} |`);
    }
    console.log([`durability on ${backend.name}:`, '| round | op | events told before SIGKILL | state after restart | events replayed |', '|---|---|---|---|---|', ...rows].join('\n'));
  }, 300_000);
});
