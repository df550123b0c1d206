import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagev1 } from '@banger/api';
import { runCli } from '../harness/daemons.js';
import { collect, createVmStack, vmUnsupportedReason, type VmStack } from './vmstack.js';

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/vm golden skipped: ${skip}`);

interface Step {
  argv: string[];
  exit: number | null;
  stdout: unknown;
  stderr: unknown;
}

/** JSON documents (one or one per line) as values; plain text stays text. */
function parseOutput(text: string): unknown {
  const t = text.trim();
  if (t === '') return null;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    const lines = t.split('\n');
    try {
      return lines.map((l) => JSON.parse(l) as unknown);
    } catch {
      return t;
    }
  }
}

const VOLATILE_NUMBERS = new Set(['durationMs', 'duration_ms', 'pid', 'rssBytes', 'cpuPercent']);
/** Hex strings that are not ids (a capability set of sixteen zeros would read as a VM id). */
const VERBATIM = new Set(['capEff']);

/**
 * Replaces what differs from run to run (ids, op ids, times, paths of the throwaway stack,
 * random namespace and bridge names, durations, pids) with stable placeholders, so the rest
 * of each answer can be compared byte for byte with the recorded one.
 */
function normaliser(s: VmStack): (v: unknown, key?: string) => unknown {
  const ids = new Map<string, string>();
  const stable = (kind: string, raw: string): string => {
    if (!ids.has(raw)) ids.set(raw, `<${kind}${[...ids.values()].filter((x) => x.startsWith(`<${kind}`)).length + 1}>`);
    return ids.get(raw) ?? raw;
  };
  const fix = (text: string): string =>
    text
      .replaceAll(s.stack.dir, '<DIR>')
      .replaceAll(s.ns.name, '<NETNS>')
      .replace(/bgr-v[0-9a-f]{4}/g, '<BRIDGE>')
      .replace(/op-[a-z2-7]{12}/g, (m) => stable('OP', m))
      .replace(/\b[0-9a-f]{16}\b/g, (m) => stable('VM', m))
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, (m) => stable('UUID', m))
      .replace(/\b[0-9a-f]{64}\b/g, '<SHA256>')
      .replace(/\b[0-9a-f]{24}\b/g, (m) => stable('IMG', m))
      .replace(/\b02(:[0-9a-f]{2}){5}\b/g, '<MAC>')
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<TIME>');
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return key && VOLATILE_NUMBERS.has(key) ? '<N>' : key && VERBATIM.has(key) ? v : fix(v);
    if (typeof v === 'number') return key && VOLATILE_NUMBERS.has(key) ? '<N>' : v;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk;
}

/**
 * The CLI's `--json` answers, exit codes and error reasons for a representative run of VM
 * commands against the real daemons and a real guest, recorded before vmd's refactor
 * (golden/cli-vm.json) and compared on every run since: a change to what users and scripts
 * see must show up as a diff of that file.
 */
describe.skipIf(skip !== undefined)('CLI golden outputs against a real vmd', () => {
  let s: VmStack;
  const steps: Step[] = [];

  beforeAll(async () => {
    s = await createVmStack();
    const { error } = await collect(s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 }));
    expect(error).toBeUndefined();
  }, 1_900_000);

  afterAll(async () => s?.close());

  it('answers a representative run of commands as recorded', async () => {
    const norm = normaliser(s);
    const runs: string[][] = [
      ['--json', 'vm', 'list'],
      ['--json', 'vm', 'create', '--name', 'Bad_1'],
      ['--json', 'vm', 'create', '--name', 'gold', '--memory', '1'],
      ['--json', 'vm', 'create', '--name', 'gold', '--image', 'nope'],
      ['--json', 'vm', 'create', '--name', 'gold', '--no-wait'],
      ['--json', 'vm', 'create', '--name', 'gold', '--no-wait'],
      ['--json', 'vm', 'show', 'gold'],
      ['--json', 'vm', 'show', 'nope'],
      ['--json', 'vm', 'list'],
      ['vm', 'exec', 'gold', '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'],
      ['vm', 'exec', 'gold', '--json', '--cmd-timeout', '1s', '--', 'sleep', '5'],
      ['vm', 'exec', 'gold', '--json', '--stream', '--cmd-timeout', '1s', '--', 'sleep', '5'],
      ['--json', 'vm', 'touch', 'gold'],
      ['--json', 'vm', 'stop', 'gold'],
      ['--json', 'vm', 'stop', 'gold'],
      ['vm', 'exec', 'gold', '--json', '--', 'true'],
      ['--json', 'vm', 'resize', 'gold', '--work-disk', '1'],
      ['--json', 'vm', 'start', 'gold', '--no-wait'],
      ['--json', 'vm', 'start', 'gold', '--no-wait'],
      ['--json', 'vm', 'show', 'gold'],
      ['--json', 'vm', 'kill', 'gold'],
      ['--json', 'vm', 'promote', 'gold', '--name', 'gold-img'],
      ['--json', 'vm', 'prune', '--older-than', '1000d', '--dry-run'],
      ['--json', 'vm', 'delete', 'gold'],
      ['--json', 'vm', 'delete', 'gold'],
      ['--json', 'ops', 'list', '--kind', 'vm_create'],
    ];
    for (const argv of runs) {
      const r = await runCli(s.stack, argv, 600_000);
      steps.push({ argv, exit: r.code, stdout: norm(parseOutput(r.stdout)), stderr: norm(parseOutput(r.stderr)) });
    }
    await expect(`${JSON.stringify(steps, null, 2)}\n`).toMatchFileSnapshot('./golden/cli-vm.json');
  }, 1_200_000);
});
