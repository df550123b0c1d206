import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, runCli, type Stack } from '../harness/daemons.js';
import { postgresAvailability, startPostgres, type PostgresServer } from '../harness/postgres.js';

interface DoctorJson {
  checks: { name: string; status: string; detail: string; fix: string }[];
}

describe('banger doctor', () => {
  let stack: Stack;

  beforeAll(async () => {
    // Simulate a host without QEMU: the config points at a binary that does not exist.
    stack = await createStack({ extraConfig: '[hypervisor]\nqemu_binary = "/nonexistent/bin/qemu-system-x86_64"' });
    await stack.start('privhelper');
    await stack.start('imaged');
    await stack.start('vmd');
  });
  afterAll(async () => stack?.close());

  it('fails the qemu check with the command that fixes it, and exits non-zero', async () => {
    const res = await runCli(stack, ['doctor', '--json']);
    expect(res.code).not.toBe(0);
    const out = JSON.parse(res.stdout) as DoctorJson;
    const qemu = out.checks.find((c) => c.name === 'qemu' || c.name === 'host: qemu');
    expect(qemu).toMatchObject({ status: 'fail' });
    expect(qemu?.fix).toContain('apt-get install');
    expect(qemu?.fix).toContain('qemu-system-x86');
    // The daemons themselves are healthy.
    for (const d of ['vmd', 'imaged', 'privhelper']) {
      expect(out.checks.find((c) => c.name.includes(d))?.status).toBe('pass');
    }
  });

  it('reports each daemon database (the embedded cluster, reachable), the missing image and kernel with the commands that make them', async () => {
    const res = await runCli(stack, ['doctor', '--json']);
    const by = Object.fromEntries((JSON.parse(res.stdout) as DoctorJson).checks.map((c) => [c.name, c]));
    for (const d of ['vmd', 'imaged'] as const) {
      expect(by[`${d} database`]?.status).toBe('pass');
      expect(by[`${d} database`]?.detail).toMatch(new RegExp(`^embedded PostgreSQL cluster at ${stack.embeddedDbDir(d)} \\(pid \\d+\\), answered in \\d+ ms$`));
    }
    expect(by['default image']).toMatchObject({ status: 'fail', fix: 'banger image build debian-bookworm' });
    expect(by['kernel']?.status).toBe('fail');
    expect(by['kernel']?.fix).toMatch(/^banger kernel pull \S+ \(banger image build pulls it too\)$/);
    expect(by['state dir space']?.detail).toContain(`GiB free under ${join(stack.dir, 'state')}`);
  });

  it('fails the database check, naming the cluster, once the cluster is gone under a serving daemon, and passes again once the daemon has restarted it', async () => {
    const pid = stack.embeddedDbPid('imaged');
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    const dbCheck = async (): Promise<DoctorJson['checks'][number] | undefined> =>
      (JSON.parse((await runCli(stack, ['doctor', '--json'])).stdout) as DoctorJson).checks.find((c) => c.name === 'imaged database');
    const db = await dbCheck();
    expect(db?.status).toBe('fail');
    // The failed probe is what makes the daemon start its cluster again (the pid named is then
    // the new postmaster's), so only the directory and the failure are fixed here.
    expect(db?.detail).toMatch(new RegExp(`^embedded PostgreSQL cluster at ${stack.embeddedDbDir('imaged')} \\(pid \\d+\\) is not answering: database unavailable`));
    expect(db?.fix).toContain('sudo systemctl restart banger-imaged');
    let again = db;
    for (let i = 0; i < 60 && again?.status !== 'pass'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      again = await dbCheck();
    }
    expect(again?.status).toBe('pass');
    expect(stack.embeddedDbPid('imaged')).not.toBe(pid);
  });

  it('prints one line per check with pass/warn/fail for people', async () => {
    const res = await runCli(stack, ['doctor']);
    expect(res.stdout).toMatch(/fail.*qemu/i);
    expect(res.stdout).toMatch(/apt-get install -y --no-install-recommends qemu-system-x86/);
  });
});

const pg = await postgresAvailability();
if (!pg.ok) console.warn(`SKIPPED doctor on an external PostgreSQL: ${pg.reason}`);

describe.skipIf(!pg.ok)('banger doctor with [database] url', () => {
  let server: PostgresServer;
  let stack: Stack;
  beforeAll(async () => {
    server = await startPostgres();
    stack = await createStack({ extraConfig: `[database]\nurl = "${await server.createDatabase()}"` });
    await stack.start('imaged');
  });
  afterAll(async () => {
    await stack?.close();
    await server?.dispose();
  });

  const imagedDb = async () => {
    const res = await runCli(stack, ['doctor', '--json']);
    return (JSON.parse(res.stdout) as DoctorJson).checks.find((c) => c.name === 'imaged database');
  };

  it('names the external backend while it answers, and fails with the psql check once the server is gone', async () => {
    const up = await imagedDb();
    expect(up?.status).toBe('pass');
    expect(up?.detail).toMatch(/^external PostgreSQL \(\[database\] url\) at postgresql:\/\/\S+, answered in \d+ ms$/);
    await server.stop();
    const down = await imagedDb();
    expect(down?.status).toBe('fail');
    expect(down?.detail).toContain('external PostgreSQL ([database] url) at postgresql://');
    expect(down?.fix).toMatch(/^check \[database\] url and that the server accepts the banger user: psql 'postgresql:\/\/\S+' -c 'select 1'$/);
  });
});
