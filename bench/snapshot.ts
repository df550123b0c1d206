/**
 * Warm creates against cold ones, one run on one machine (issue 15 item 7): cold create →
 * services ready versus warm create (a restore of `image warm`'s snapshot) → services ready,
 * restore → agent, K = 4 clones, and host memory per clone versus per cold VM as summed PSS of
 * their QEMUs after 30 s idle. The baseline (cold creates of the same image and shape) is
 * measured in the same run. ForkVm is not on this branch: `fork4_total_ms` is FOUR SEQUENTIAL
 * `CreateVmFromSnapshot` calls of the warm snapshot (`fork4_method` says so).
 *
 *   node --import tsx bench/snapshot.ts [--short] [--no-wait] [--cold N] [--warm N] [--idle S] [--dry-run] [--out PATH]
 *
 * `--no-wait` measures to the agent instead of the services (template and creates with
 * no_wait): for a loaded machine where the image's services miss their readiness timeout. The
 * `*_to_services_*` keys are then null and `*_to_agent_*` keys carry the numbers.
 * `--short`: 2 cold and 3 warm runs. On a machine that cannot boot VMs, or with --dry-run, it
 * writes the result shape with `skipped: "<reason>"` and exits 0.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { imagev1, vmv1 } from '@banger/api';
import { collect, createVmStack, qemuPidsFor, vmUnsupportedReason, type VmStack } from '../integration/vm/vmstack.js';
import { hostFacts, intFlag, parseFlags, pssMib, round, summarize, table, writeResult } from './lib.js';

const TARGETS = { warm_to_services_p50_ms_max: 1500, warm_speedup_min: 50, fork4_total_ms_max: 4000, clone_pss_ratio_max: 0.5 };

interface Run {
  name: string;
  vmId: string;
  totalMs: number;
  path: string;
  stages: Record<string, number>;
}

/** One create (warm by default, or cold) to the end of its services stage; the events say which path it took. */
async function createOne(s: VmStack, name: string, cold: boolean, noWait: boolean): Promise<Run> {
  const t0 = performance.now();
  const { items, error } = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, cold, noWait }), { timeoutMs: 1_200_000 }));
  if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
  const totalMs = performance.now() - t0;
  const stages: Record<string, number> = {};
  let path = '';
  for (const i of items) {
    const b = i.event?.body;
    if (b?.$case !== 'stageFinished') continue;
    stages[b.value.stage] = Number(b.value.durationMs);
    if (b.value.stage === 'path') path = b.value.message;
  }
  const vm = (await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: name }))).vm;
  return { name, vmId: vm?.id ?? '', totalMs, path, stages };
}

async function summedPss(runs: readonly Run[]): Promise<number[]> {
  return Promise.all(runs.map(async (r) => (await Promise.all((await qemuPidsFor(r.vmId)).map(pssMib))).reduce((a, b) => a + b, 0)));
}

async function deleteAll(s: VmStack, runs: readonly Run[]): Promise<void> {
  for (const r of runs) await s.vmd.unary('deleteVm', vmv1.DeleteVmRequest.fromPartial({ ref: r.name, force: true }), { timeoutMs: 300_000 });
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function skipped(reason: string, params: object, short: boolean): object {
  return { name: 'snapshot', short, time: new Date().toISOString(), skipped: reason, params, targets: TARGETS, cold_create_to_services_p50_ms: null, warm_create_to_services_p50_ms: null, fork4_total_ms: null, clone_pss_ratio: null };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const noWait = argv.includes('--no-wait');
  const flags = parseFlags(argv.filter((a) => a !== '--no-wait'), ['cold', 'warm', 'idle']);
  const point = noWait ? 'agent' : 'services';
  const coldRuns = intFlag(flags, 'cold', flags.short ? 2 : 5);
  const warmRuns = intFlag(flags, 'warm', flags.short ? 3 : 5);
  const idleS = intFlag(flags, 'idle', 30);
  const params = { cold_runs: coldRuns, warm_runs: warmRuns, idle_s: idleS, fork_k: 4, services_awaited: !noWait };
  const reason = flags.dryRun ? `dry run (this machine: ${vmUnsupportedReason() ?? 'could run VMs'})` : vmUnsupportedReason();
  if (reason) {
    const path = await writeResult('snapshot', flags, { ...skipped(reason, params, flags.short), host: await hostFacts() });
    process.stdout.write(`skipped: ${reason} (${path})\n`);
    return;
  }
  const s = await createVmStack();
  try {
    process.stderr.write('building or reusing the default image...\n');
    const build = await collect(s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 }));
    if (build.error) throw build.error instanceof Error ? build.error : new Error(JSON.stringify(build.error));

    const tw = performance.now();
    const warmed = await collect(s.vmd.serverStream('warmImage', vmv1.WarmImageRequest.fromPartial({ noWait }), { timeoutMs: 1_800_000 }));
    if (warmed.error) throw warmed.error instanceof Error ? warmed.error : new Error(JSON.stringify(warmed.error));
    const warmImageMs = performance.now() - tw;
    const snapshot = (await s.vmd.unary('listSnapshots', vmv1.ListSnapshotsRequest.fromPartial({}))).snapshots.find((x) => x.kind === 'warm');
    if (snapshot === undefined) throw new Error('image warm ended without a warm snapshot');
    process.stderr.write(`image warm: ${Math.round(warmImageMs)} ms, snapshot ${snapshot.name}\n`);

    // Interleaved, so load from other sessions falls on both paths alike.
    const cold: Run[] = [];
    const warm: Run[] = [];
    for (let i = 0; i < Math.max(coldRuns, warmRuns); i++) {
      if (i < coldRuns) cold.push(await createOne(s, `cold-${i}`, true, noWait));
      if (i < warmRuns) warm.push(await createOne(s, `warm-${i}`, false, noWait));
      process.stderr.write(`round ${i + 1}: cold ${Math.round(cold.at(-1)?.totalMs ?? NaN)} ms, warm ${Math.round(warm.at(-1)?.totalMs ?? NaN)} ms (${warm.at(-1)?.path ?? ''})\n`);
    }
    const notWarm = warm.filter((w) => !w.path.startsWith('warm:'));
    if (notWarm.length > 0) throw new Error(`a default create did not take the warm path: ${notWarm.map((w) => w.path).join('; ')}`);

    process.stderr.write(`idle ${idleS} s before reading PSS...\n`);
    await sleep(idleS * 1000);
    const coldPss = await summedPss(cold);
    const warmPss = await summedPss(warm);
    await deleteAll(s, [...cold, ...warm]);

    const tf = performance.now();
    const forks: Run[] = [];
    for (let i = 0; i < 4; i++) {
      const name = `fork-${i}`;
      const { error } = await collect(s.vmd.serverStream('createVmFromSnapshot', vmv1.CreateVmFromSnapshotRequest.fromPartial({ snapshot: snapshot.id, name, noWait: true }), { timeoutMs: 900_000 }));
      if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
      forks.push({ name, vmId: '', totalMs: 0, path: '', stages: {} });
    }
    const fork4Ms = performance.now() - tf;
    await deleteAll(s, forks);

    const coldSum = summarize(cold.map((r) => r.totalMs));
    const warmSum = summarize(warm.map((r) => r.totalMs));
    const restoreToAgent = summarize(warm.map((r) => (r.stages['restore'] ?? NaN) + (r.stages['agent'] ?? NaN)));
    const ratio = round(mean(warmPss) / mean(coldPss));
    const speedup = round(coldSum.p50_ms / warmSum.p50_ms, 1);
    const result = {
      name: 'snapshot',
      short: flags.short,
      time: new Date().toISOString(),
      host: await hostFacts(),
      skipped: null,
      params,
      targets: TARGETS,
      snapshot: { name: snapshot.name, memory_mib: snapshot.memoryMib, vcpus: snapshot.vcpus, state_bytes: Number(snapshot.stateBytes), size_bytes: Number(snapshot.sizeBytes) },
      image_warm_ms: round(warmImageMs, 1),
      cold_create_to_services_p50_ms: noWait ? null : coldSum.p50_ms,
      cold_create_to_services_p95_ms: noWait ? null : coldSum.p95_ms,
      warm_create_to_services_p50_ms: noWait ? null : warmSum.p50_ms,
      warm_create_to_services_p95_ms: noWait ? null : warmSum.p95_ms,
      ...(noWait ? { cold_create_to_agent_p50_ms: coldSum.p50_ms, cold_create_to_agent_p95_ms: coldSum.p95_ms, warm_create_to_agent_p50_ms: warmSum.p50_ms, warm_create_to_agent_p95_ms: warmSum.p95_ms } : {}),
      warm_speedup: speedup,
      restore_to_agent_p50_ms: restoreToAgent.p50_ms,
      restore_to_agent_p95_ms: restoreToAgent.p95_ms,
      fork4_total_ms: round(fork4Ms, 1),
      fork4_method: 'four sequential CreateVmFromSnapshot of the warm snapshot (no ForkVm on this branch), no_wait',
      clone_pss_mib: warmPss.map((x) => round(x, 1)),
      cold_pss_mib: coldPss.map((x) => round(x, 1)),
      clone_pss_ratio: ratio,
      cold: { ...coldSum, stages: cold.map((r) => r.stages) },
      warm: { ...warmSum, paths: warm.map((r) => r.path), stages: warm.map((r) => r.stages) },
      pass: {
        warm_to_services: warmSum.p50_ms <= TARGETS.warm_to_services_p50_ms_max,
        warm_speedup: speedup >= TARGETS.warm_speedup_min,
        fork4: fork4Ms <= TARGETS.fork4_total_ms_max,
        clone_memory: ratio <= TARGETS.clone_pss_ratio_max,
      },
    };
    const path = await writeResult('snapshot', flags, result);
    const verdict = (ok: boolean): string => (ok ? 'PASS' : 'OVER');
    process.stdout.write(
      table(
        ['measure', 'p50 ms', 'p95 ms', 'n'],
        [
          [`cold create→${point}`, coldSum.p50_ms, coldSum.p95_ms, coldSum.n],
          [`warm create→${point}`, warmSum.p50_ms, warmSum.p95_ms, warmSum.n],
          ['restore→agent (warm)', restoreToAgent.p50_ms, restoreToAgent.p95_ms, restoreToAgent.n],
        ],
      ) +
        `warm ≤ ${TARGETS.warm_to_services_p50_ms_max} ms: ${verdict(result.pass.warm_to_services)}; ${speedup}× faster than cold vs ≥ ${TARGETS.warm_speedup_min}×: ${verdict(result.pass.warm_speedup)}\n` +
        `4 sequential clones (no ForkVm) ${round(fork4Ms, 0)} ms vs ≤ ${TARGETS.fork4_total_ms_max} ms: ${verdict(result.pass.fork4)}\n` +
        `PSS per clone / per cold VM after ${idleS} s idle ${ratio} vs ≤ ${TARGETS.clone_pss_ratio_max}: ${verdict(result.pass.clone_memory)}  (${path})\n`,
    );
  } catch (err) {
    const e = err as { message?: string; reason?: string; opId?: string };
    const path = await writeResult('snapshot', flags, { ...skipped('', params, flags.short), skipped: null, error: { message: e.message ?? String(err), reason: e.reason ?? null, op_id: e.opId ?? null }, host: await hostFacts() });
    process.stderr.write(`bench/snapshot failed: ${e.message ?? String(err)} (${path})\n`);
    process.exitCode = 1;
  } finally {
    await s.close();
  }
}

await main();
