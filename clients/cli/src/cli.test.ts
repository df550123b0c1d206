import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './cli.js';
import { captureIo } from './test-support.js';

// Nothing listens here, so any command that got past argument parsing would fail with 7, not 2.
const env = { BANGER_RUN_DIR: '/nonexistent/banger-test-run' };

describe('argument parsing and usage errors', () => {
  it.each([
    [['vm', 'create', '--nme', 'x'], /Unknown option '--nme'/],
    [['vm', 'create'], /--name is required/],
    [['vm', 'create', '--name', 'dev', '--memory', 'lots'], /--memory: invalid size "lots"/],
    [['vm', 'create', '--name', 'dev', '--vcpus', '1.5'], /--vcpus: expected a whole number/],
    [['vm', 'create', '--name', 'dev', '--work-disk', '2X'], /--work-disk: invalid size/],
    [['vm', 'prune', '--older-than', '7x'], /--older-than: invalid duration "7x"/],
    [['vm', 'prune'], /--older-than is required/],
    [['vm', 'show'], /missing REF/],
    [['vm', 'show', 'a', 'b'], /unexpected argument "b"/],
    [['vm', 'exec', 'dev'], /missing command to run/],
    [['vm', 'exec', 'dev', '--env', 'NOEQUALS', '--', 'true'], /--env: expected KEY=VALUE/],
    [['vm', 'exec', 'dev', '--max-output', 'lots', '--', 'true'], /--max-output: invalid size "lots"/],
    [['vm', 'exec', 'dev', '--stream', '--max-output', '1M', '--', 'true'], /--max-output does not apply to --stream/],
    [['vm', 'list', '--state', 'sleepy'], /--state: unknown VM state "sleepy"/],
    [['ops', 'list', '--kind', 'vm-frobnicate'], /--kind: unknown operation kind/],
    [['image', 'build', 'bookworm', '--init', 'sysv'], /--init: expected systemd or minimal/],
    [['vm', 'list', '--timeout', 'soon'], /--timeout: invalid duration "soon"/],
    [['vm', 'frob'], /unknown command "vm frob"/],
    [['frob'], /unknown command "frob"/],
  ])('%j exits 2 with one error line and a hint', async (argv, message) => {
    const io = captureIo(env);
    expect(await run(argv, io)).toBe(2);
    expect(io.stderr.lines[0]).toMatch(/^banger: /);
    expect(io.stderr.lines[0]).toMatch(message);
    expect(io.stderr.lines[1]).toMatch(/^hint: /);
    expect(io.stdout.text).toBe('');
  });

  it('prints usage errors as a JSON object on stderr with --json', async () => {
    const io = captureIo(env);
    expect(await run(['--json', 'vm', 'prune', '--older-than', '7x'], io)).toBe(2);
    const doc = JSON.parse(io.stderr.text) as { error: Record<string, unknown> };
    expect(doc.error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'USAGE', op_id: null, fields: {}, exit_code: 2 });
    expect(doc.error['message']).toContain('--older-than');
  });

  it('accepts global flags before and after the command', async () => {
    for (const argv of [
      ['--vmd-socket', '/nonexistent/x.sock', 'vm', 'list'],
      ['vm', 'list', '--vmd-socket=/nonexistent/x.sock'],
    ]) {
      const io = captureIo(env);
      expect(await run(argv, io)).toBe(7);
      expect(io.stderr.lines[0]).toContain('cannot reach vmd at /nonexistent/x.sock');
    }
  });

  it('takes the socket from the env, then BANGER_RUN_DIR, then /run/banger', async () => {
    const viaEnv = captureIo({ ...env, BANGER_VMD_SOCKET: '/nonexistent/env.sock' });
    await run(['vm', 'list'], viaEnv);
    expect(viaEnv.stderr.text).toContain('/nonexistent/env.sock');
    const viaRunDir = captureIo(env);
    await run(['vm', 'list'], viaRunDir);
    expect(viaRunDir.stderr.text).toContain('/nonexistent/banger-test-run/vmd.sock');
  });

  it('without either, takes the socket the config file gives the daemons', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-cli-config-'));
    try {
      const config = join(dir, 'config.toml');
      await writeFile(config, `[paths]\nrun_dir = "${dir}/run"\n`);
      const viaConfig = captureIo({ BANGER_CONFIG: config });
      await run(['vm', 'list'], viaConfig);
      expect(viaConfig.stderr.text).toContain(`cannot reach vmd at ${dir}/run/vmd.sock`);
      await writeFile(config, `[vmd]\nsocket = "${dir}/v.sock"\n`);
      const viaKey = captureIo({ BANGER_CONFIG: config });
      await run(['vm', 'list'], viaKey);
      expect(viaKey.stderr.text).toContain(`cannot reach vmd at ${dir}/v.sock`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('help', () => {
  it('lists every group at the top level on stdout', async () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const io = captureIo(env);
      expect(await run(argv, io)).toBe(0);
      for (const c of ['vm create', 'ops show', 'image build', 'kernel pull', 'doctor', 'version']) expect(io.stdout.text).toContain(c);
    }
  });

  it('shows a group and a command', async () => {
    const group = captureIo(env);
    expect(await run(['vm', '--help'], group)).toBe(0);
    expect(group.stdout.text).toMatch(/^Usage: banger vm COMMAND/);
    expect(group.stdout.text).not.toContain('image build');
    const cmd = captureIo(env);
    expect(await run(['vm', 'create', '--help'], cmd)).toBe(0);
    expect(cmd.stdout.text).toMatch(/^Usage: banger vm create --name NAME/);
    expect(cmd.stdout.text).toContain('--rm-on-detach');
    const viaHelp = captureIo(env);
    expect(await run(['help', 'vm', 'create'], viaHelp)).toBe(0);
    expect(viaHelp.stdout.text).toBe(cmd.stdout.text);
  });

  it('does not treat --help after -- as a request for help', async () => {
    const io = captureIo(env);
    expect(await run(['vm', 'exec', 'dev', '--', 'ls', '--help'], io)).toBe(7);
  });

  it('prints the group help on stderr and exits 2 when the subcommand is missing', async () => {
    const io = captureIo(env);
    expect(await run(['kernel'], io)).toBe(2);
    expect(io.stderr.text).toContain('kernel pull');
  });
});
