/**
 * (d) Unary RPC latency and throughput through banger's full server stack (BangerServer:
 * dispatch interceptor with op ids, version check, completion log line, metrics; the
 * `unary()` handler adapter with its request context; ServiceClient with op-id metadata)
 * versus a bare grpc-js server and client on the same kind of Unix socket answering the same
 * GetServerInfo message. Both run in this process after a warm-up; latency samples are taken
 * call by call in turn so the sides share the machine's conditions, throughput in alternating
 * rounds. Target: banger p50 latency ≤ 1.3× bare.
 *
 *   node --import tsx bench/rpc.ts [--short] [--calls N] [--concurrency N] [--out PATH]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { descriptorSetPath, vmv1 } from '@banger/api';
import { BangerServer, createLogger, logDestination, MetricsRegistry, rpcMetricsRecorder, serverInfo, ServiceClient, setRootLogger, unary } from '@banger/runtime';
import { hostFacts, intFlag, parseFlags, round, summarize, table, writeResult } from './lib.js';

const TARGET_RATIO = 1.3;

type SideName = 'bare' | 'banger' | 'banger_nolog';

interface Side {
  name: SideName;
  call(): Promise<void>;
  close(): Promise<void>;
}

const INFO = serverInfo('vmd');

async function bareSide(socketPath: string): Promise<Side> {
  const def = vmv1.VmServiceService.getServerInfo;
  const server = new grpc.Server();
  server.addService({ getServerInfo: def } as unknown as grpc.ServiceDefinition, {
    getServerInfo: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<vmv1.GetServerInfoResponse>) => cb(null, { info: INFO }),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  return {
    name: 'bare',
    call: () =>
      new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, (err) => (err ? reject(err) : resolve()));
      }),
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** `level: 'warn'` drops the per-call completion line: a breakdown of where the overhead goes. */
async function bangerSide(name: SideName, socketPath: string, logFile: string, level: 'info' | 'warn'): Promise<Side> {
  // A real daemon writes one JSON completion line per call, through the same destination.
  const logger = createLogger({ service: 'vmd', level, destination: logDestination(logFile) });
  setRootLogger(logger);
  const server = new BangerServer({
    logger,
    serviceNames: ['banger.vm.v1.VmService'],
    descriptorSetPath,
    onCallFinished: rpcMetricsRecorder(new MetricsRegistry()),
  });
  server.addService(vmv1.VmServiceService, {
    getServerInfo: unary(async (): Promise<vmv1.GetServerInfoResponse> => ({ info: INFO })),
  } as unknown as grpc.UntypedServiceImplementation);
  await server.listen({ socketPath, mode: 0o600 });
  const client = new ServiceClient(vmv1.VmServiceService, socketPath);
  return {
    name,
    call: async () => {
      await client.unary('getServerInfo', {});
    },
    close: async () => {
      client.close();
      await server.shutdown(1000);
    },
  };
}

async function latencyRound(side: Side, calls: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await side.call();
    out.push(performance.now() - t0);
  }
  return out;
}

async function throughputRound(side: Side, calls: number, concurrency: number): Promise<{ calls: number; seconds: number }> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++;
        await side.call();
      }
    }),
  );
  return { calls, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['calls', 'concurrency', 'rounds']);
  const calls = intFlag(flags, 'calls', flags.short ? 300 : 3000);
  const rounds = intFlag(flags, 'rounds', flags.short ? 2 : 5);
  const concurrency = intFlag(flags, 'concurrency', 16);
  const dir = await mkdtemp(join(tmpdir(), 'banger-bench-rpc-'));
  const sides = [
    await bareSide(join(dir, 'bare.sock')),
    await bangerSide('banger', join(dir, 'banger.sock'), join(dir, 'vmd.log'), 'info'),
    await bangerSide('banger_nolog', join(dir, 'nolog.sock'), join(dir, 'nolog.log'), 'warn'),
  ];
  const lat: Record<string, number[]> = { bare: [], banger: [], banger_nolog: [] };
  const tput: Record<string, { calls: number; seconds: number }> = {};
  for (const s of sides) tput[s.name] = { calls: 0, seconds: 0 };
  try {
    // Warm-up: JIT-compile both stacks (a running daemon is warm) and open the connections.
    for (let w = 0; w < 2; w++) for (const s of sides) await latencyRound(s, flags.short ? 500 : 2000);
    // Latency: the sides take turns call by call (in a rotating order), so GC pauses, CPU
    // frequency and neighbours on the machine hit all of them alike.
    for (let i = 0; i < calls; i++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(i + k) % sides.length];
        if (!side) continue;
        const t0 = performance.now();
        await side.call();
        lat[side.name]?.push(performance.now() - t0);
      }
    }
    // Throughput: alternating rounds of concurrent calls.
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        const t = await throughputRound(s, Math.ceil(calls / rounds), concurrency);
        const acc = tput[s.name];
        if (acc) {
          acc.calls += t.calls;
          acc.seconds += t.seconds;
        }
      }
    }
  } finally {
    for (const s of sides) await s.close();
    await rm(dir, { recursive: true, force: true });
  }
  const stats = (name: SideName) => ({
    ...summarize(lat[name] ?? []),
    throughput_rps: round((tput[name]?.calls ?? 0) / (tput[name]?.seconds || 1), 1),
  });
  const bare = stats('bare');
  const banger = stats('banger');
  const nolog = stats('banger_nolog');
  const ratio = {
    p50: round(banger.p50_ms / bare.p50_ms),
    p95: round(banger.p95_ms / bare.p95_ms),
    p99: round(banger.p99_ms / bare.p99_ms),
    mean: round(banger.mean_ms / bare.mean_ms),
    throughput: round(banger.throughput_rps / bare.throughput_rps),
  };
  const result = {
    name: 'rpc',
    kind: 'unary GetServerInfo over a Unix socket, client and server in one process',
    short: flags.short,
    time: new Date().toISOString(),
    host: await hostFacts(),
    params: { calls, rounds, concurrency },
    baseline: { name: 'bare grpc-js server + client', ...bare },
    banger: { name: 'BangerServer (interceptor, log line, metrics, handler adapter) + ServiceClient', ...banger },
    breakdown: { banger_without_log_line: { ...nolog, p50_ratio: round(nolog.p50_ms / bare.p50_ms) } },
    ratio,
    overhead_ms: { p50: round(banger.p50_ms - bare.p50_ms), p95: round(banger.p95_ms - bare.p95_ms) },
    target: { latency_ratio_max: TARGET_RATIO, metric: 'p50 ratio' },
    pass: ratio.p50 <= TARGET_RATIO,
  };
  const path = await writeResult('rpc', flags, result);
  process.stdout.write(
    table(
      ['side', 'p50 ms', 'p95 ms', 'p99 ms', 'mean ms', 'calls/s'],
      [
        ['bare grpc-js', bare.p50_ms, bare.p95_ms, bare.p99_ms, bare.mean_ms, bare.throughput_rps],
        ['banger stack', banger.p50_ms, banger.p95_ms, banger.p99_ms, banger.mean_ms, banger.throughput_rps],
        ['  (no log line)', nolog.p50_ms, nolog.p95_ms, nolog.p99_ms, nolog.mean_ms, nolog.throughput_rps],
        ['ratio', ratio.p50, ratio.p95, ratio.p99, ratio.mean, ratio.throughput],
      ],
    ) + `p50 ratio ${ratio.p50} vs target ≤ ${TARGET_RATIO}: ${result.pass ? 'PASS' : 'OVER TARGET'}  (${path})\n`,
  );
}

await main();
