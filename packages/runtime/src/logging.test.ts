import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const LOGGING = fileURLToPath(new URL('./logging.ts', import.meta.url));

/** Runs a script in a fresh Node process that logs through logDestination(file) and then ends as told. */
async function runScript(dir: string, ending: string): Promise<{ status: number | null; lines: Record<string, unknown>[] }> {
  const log = join(dir, 'daemon.log');
  const script = join(dir, 'script.ts');
  await writeFile(
    script,
    [
      `import { createLogger, logDestination } from ${JSON.stringify(LOGGING)};`,
      `const logger = createLogger({ service: 'vmd', destination: logDestination(${JSON.stringify(log)}) });`,
      `for (let i = 0; i < 3; i++) logger.info({ op_id: 'op-aaaaaaaaaaaa', i }, 'rpc completed');`,
      ending,
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
  const text = await readFile(log, 'utf8').catch(() => '');
  return { status: r.status, lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logDestination', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('buffers lines but loses none when the daemon exits right after logging', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-log-'));
    const r = await runScript(dir, 'process.exit(0);');
    expect(r.status).toBe(0);
    expect(r.lines.map((l) => l['i'])).toEqual([0, 1, 2]);
    expect(r.lines[0]).toMatchObject({ service: 'vmd', level: 'info', msg: 'rpc completed', op_id: 'op-aaaaaaaaaaaa' });
  });

  it('flushes what is buffered when the process dies of an uncaught exception', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-log-'));
    const r = await runScript(dir, "throw new Error('boom');");
    expect(r.status).not.toBe(0);
    expect(r.lines).toHaveLength(3);
  });
});
