import { setTimeout as sleep } from 'node:timers/promises';
import { vmv1 } from '@banger/api';
import { RpcError, ServiceClient } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, vmUnsupportedReason } from '../vm/vmstack.js';
import { converge, createFaultStack, ensureDefaultImage, type FaultStack } from './fault-stack.js';

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/faults/load skipped: ${skip}`);

const WORKERS = 50;
const CREATES = 4;
const UNARY_DEADLINE_MS = 20_000;
/** Slack over a call's deadline for a loaded 2-core machine to deliver the DEADLINE_EXCEEDED. */
const LATE_MS = 3_000;
const DOWN_MS = 3_000;
const CREATE_STAGGER_MS = 2_500;

interface Outcome {
  method: string;
  ms: number;
  code: string;
  reason: string;
  message: string;
  /** The peer a client could not reach at all (set only then). */
  unreachablePeer?: string;
}

const outcomeOf = (method: string, started: number, err?: unknown): Outcome => ({
  method,
  ms: Date.now() - started,
  code: err === undefined ? 'OK' : err instanceof RpcError ? err.codeName : 'NOT_AN_RPC_ERROR',
  reason: err instanceof RpcError ? err.reason : '',
  message: err instanceof Error ? err.message : err === undefined ? '' : JSON.stringify(err),
  ...(err instanceof RpcError && err.unreachable && err.peer ? { unreachablePeer: err.peer } : {}),
});

async function* tap<T>(items: AsyncIterable<T>, see: (item: T) => unknown): AsyncIterable<T> {
  for await (const item of items) {
    see(item);
    yield item;
  }
}

/**
 * A failure a client may retry, naming the daemon that was down: vmd answering UNAVAILABLE
 * HELPER_UNAVAILABLE about privhelper, or vmd itself unreachable (UNAVAILABLE, the client's
 * error naming vmd as its peer).
 */
function retryableNaming(o: Outcome, victim: Victim): boolean {
  if (o.code !== 'UNAVAILABLE') return false;
  return victim === 'privhelper' ? o.reason === 'HELPER_UNAVAILABLE' && o.message.includes('privhelper') : o.unreachablePeer === 'vmd';
}

type Victim = 'privhelper' | 'vmd';

/**
 * Load with a fault (issue 14): 50 clients calling vmd's unary RPCs in a loop and 4 creates at
 * once, while privhelper (then vmd) is SIGKILLed as the creates reach their network stage and
 * restarted 3 s later. Every call succeeds or fails UNAVAILABLE naming the daemon that was down;
 * none outlives its deadline; afterwards the host holds nothing no live VM owns.
 */
describe.skipIf(skip !== undefined)('load with faults: many calls and creates while a daemon restarts', () => {
  let fs: FaultStack;

  beforeAll(async () => {
    fs = await createFaultStack();
    await ensureDefaultImage(fs);
  }, 1_900_000);

  afterAll(async () => fs?.close());

  it.each<Victim>(['privhelper', 'vmd'])(`${WORKERS} unary clients and ${CREATES} creates across a SIGKILL and restart of %s`, async (victim) => {
    // Named, so an error of a vmd that cannot be reached says so.
    const vmd = new ServiceClient(vmv1.VmServiceService, fs.stack.socket('vmd'), { peer: 'vmd' });
    const started = Date.now();
    const unary: Outcome[] = [];
    let stop = false;
    const calls: [string, () => Promise<unknown>][] = [
      ['listVms', () => vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}), { timeoutMs: UNARY_DEADLINE_MS })],
      ['getServerInfo', () => vmd.unary('getServerInfo', {}, { timeoutMs: UNARY_DEADLINE_MS })],
      ['listOperations', () => vmd.unary('listOperations', vmv1.ListOperationsRequest.fromPartial({ limit: 20 }), { timeoutMs: UNARY_DEADLINE_MS })],
      ['getVm', () => vmd.unary('getVm', { ref: 'load-1', includeSecrets: false }, { timeoutMs: UNARY_DEADLINE_MS })],
      // Needs privhelper: the calls that see it down.
      ['collectGarbage', () => vmd.unary('collectGarbage', vmv1.CollectGarbageRequest.fromPartial({ dryRun: true }), { timeoutMs: UNARY_DEADLINE_MS })],
    ];
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = w; !stop; i++) {
        const [method, call] = calls[i % calls.length] ?? calls[0]!;
        const t = Date.now();
        unary.push(await call().then(() => outcomeOf(method, t), (e: unknown) => outcomeOf(method, t, e)));
        await sleep(50);
      }
    });
    let inNetwork: () => void = () => undefined;
    const firstInNetwork = new Promise<void>((r) => (inNetwork = r));
    // Staggered, so some reach privhelper before the kill, some while it is down, some after.
    const creates = Array.from({ length: CREATES }, async (_, i) => {
      await sleep(i * CREATE_STAGGER_MS);
      const t = Date.now();
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: `load-${i + 1}`, noWait: true }), { timeoutMs: 900_000 });
      const { error } = await collect(tap(stream, (r) => r.event?.body?.$case === 'stageStarted' && r.event.body.value.stage === 'network' && inNetwork()));
      return outcomeOf('createVm', t, error);
    });

    // The victim dies as the first create reaches its network stage.
    const early = await Promise.race([firstInNetwork.then(() => undefined), Promise.all(creates)]);
    if (early) throw new Error(`every create ended before its network stage: ${early.map((o) => `${o.code} ${o.reason} ${o.message}`).join('; ')}`);
    await fs.stack.stop(victim, 'SIGKILL');
    const killedAt = Date.now() - started;
    await sleep(DOWN_MS);
    await fs.stack.start(victim);
    const createOutcomes = await Promise.all(creates);
    stop = true;
    await Promise.all(workers);

    const byCode = new Map<string, number>();
    for (const o of [...unary, ...createOutcomes]) byCode.set(`${o.method} ${o.code}${o.reason ? ` ${o.reason}` : ''}`, (byCode.get(`${o.method} ${o.code}${o.reason ? ` ${o.reason}` : ''}`) ?? 0) + 1);
    console.log(
      [`load: ${victim} killed at ${killedAt} ms, back ${DOWN_MS} ms later; ${unary.length} unary calls, slowest ${Math.max(...unary.map((o) => o.ms))} ms; creates: ${createOutcomes.map((o) => `${o.code}${o.reason ? ` ${o.reason}` : ''} in ${o.ms} ms`).join(', ')}`, '| call outcome | count |', '|---|---|', ...[...byCode].sort().map(([k, n]) => `| ${k} | ${n} |`)].join('\n'),
    );

    // getVm of a create that has not reserved its row yet (or failed) answers NOT_FOUND: an answer, not a fault.
    const answered = (o: Outcome): boolean => o.code === 'OK' || (o.method === 'getVm' && o.code === 'NOT_FOUND');
    const bad = [...unary, ...createOutcomes].filter((o) => !answered(o) && !retryableNaming(o, victim));
    expect(bad.slice(0, 5)).toEqual([]);
    expect(unary.filter((o) => o.ms > UNARY_DEADLINE_MS + LATE_MS)).toEqual([]);
    expect(unary.length).toBeGreaterThan(WORKERS);

    // Afterwards nothing is leaked: the creates that made it are deleted, and the host converges.
    for (const [i, o] of createOutcomes.entries()) if (o.code === 'OK') await vmd.unary('deleteVm', { ref: `load-${i + 1}`, force: true }, { timeoutMs: 120_000 });
    const ms = await converge(fs, 60_000);
    vmd.close();
    console.log(`load (${victim}): converged ${ms} ms after the last create ended`);
  }, 1_200_000);
});
