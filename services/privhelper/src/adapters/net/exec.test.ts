import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NetError } from '../../domain/network/errors.js';
import { toolFailed } from '@banger/proc';
import { classify, NetRunner, tolerate } from './exec.js';

describe('NetRunner argv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-argv-'));
  const argv = join(dir, 'argv');
  writeFileSync(argv, `#!${process.execPath}\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)));\n`);
  chmodSync(argv, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const out = async (p: Promise<{ stdout: string }>) => JSON.parse((await p).stdout) as string[];

  it('puts ip into the namespace with -n and other tools behind ip netns exec', async () => {
    const run = new NetRunner({ netns: 'banger-t-x', tools: { ip: argv, nft: 'nft' } });
    expect(await out(run.ip(['link', 'show']))).toEqual(['-n', 'banger-t-x', 'link', 'show']);
    expect(await out(run.nft(['list', 'tables']))).toEqual(['netns', 'exec', 'banger-t-x', 'nft', 'list', 'tables']);
  });
  it('runs on the host without a namespace', async () => {
    const run = new NetRunner({ tools: { ip: argv } });
    expect(await out(run.ip(['-j', 'link', 'a b;c']))).toEqual(['-j', 'link', 'a b;c']);
  });
  it('refuses a bad namespace name before running anything', () => {
    expect(() => new NetRunner({ netns: '../etc' })).toThrow(NetError);
  });
  it('maps a missing tool to FAILED_PRECONDITION/TOOL_MISSING, as every runner does', async () => {
    const run = new NetRunner({ tools: { ip: 'banger-no-such-tool' } });
    await expect(run.ip(['x'])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING', fields: { tool: 'banger-no-such-tool' } });
  });
  it('maps a timeout to DEADLINE_EXCEEDED', async () => {
    const run = new NetRunner({ tools: { ip: 'sleep', timeoutMs: 50 } });
    await expect(run.ip(['5'])).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', reason: 'TOOL_TIMEOUT' });
  });
  it('runs tools in the C.UTF-8 locale, so stderr patterns match', async () => {
    const run = new NetRunner({ tools: { ip: 'locale' } });
    expect((await run.ip([])).stdout).toContain('LC_MESSAGES="C.UTF-8"');
  });
  it('refuses host sysctl through the netns path', async () => {
    await expect(new NetRunner({ tools: { sysctl: 'echo' } }).sysctlInNetns('net.ipv4.ip_forward', '1')).rejects.toMatchObject({ reason: 'HOST_SYSCTL_REFUSED' });
  });
});

describe('classify', () => {
  const f = (stderr: string) => classify(toolFailed('ip', 1, null, stderr), 'op');
  it.each([
    ['Cannot find device "bgrtap9"', 'NOT_FOUND', 'DEVICE_NOT_FOUND'],
    ['RTNETLINK answers: File exists', 'ALREADY_EXISTS', 'ALREADY_EXISTS'],
    ['RTNETLINK answers: Operation not permitted', 'PERMISSION_DENIED', 'NET_PERMISSION_DENIED'],
    ['ioctl(TUNSETIFF): Device or resource busy', 'FAILED_PRECONDITION', 'DEVICE_BUSY'],
    ['Cannot open network namespace "x": No such file or directory', 'NOT_FOUND', 'NETNS_NOT_FOUND'],
    ['Error: Could not process rule: No such file or directory', 'NOT_FOUND', 'NOT_FOUND'],
    ['something odd', 'INTERNAL', 'NET_TOOL_FAILED'],
  ])('%s → %s', (stderr, kind, reason) => {
    expect(f(stderr)).toMatchObject({ kind, reason });
  });
  it('keeps the code and reason of a tool that could not run, as a NetError', async () => {
    const missing = await new NetRunner({ tools: { ip: 'banger-no-such-tool' } }).ip(['x']).catch((e: unknown) => e);
    expect(classify(missing, 'op', { bridge: 'b0' })).toMatchObject({ name: 'NetError', kind: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING', fields: { tool: 'banger-no-such-tool', bridge: 'b0' } });
  });
  it('tolerate swallows only the listed kinds, never a missing namespace', async () => {
    const fail = (s: string) => () => Promise.reject(toolFailed('ip', 1, null, s));
    await expect(tolerate(fail('Cannot find device "x"'), 'op', ['NOT_FOUND'])).resolves.toBeUndefined();
    await expect(tolerate(fail('Cannot open network namespace "x": No such file or directory'), 'op', ['NOT_FOUND'])).rejects.toMatchObject({ reason: 'NETNS_NOT_FOUND' });
    await expect(tolerate(fail('File exists'), 'op', ['NOT_FOUND'])).rejects.toMatchObject({ kind: 'ALREADY_EXISTS' });
  });
});
