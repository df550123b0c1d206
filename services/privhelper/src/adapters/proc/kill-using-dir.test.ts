import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, killProcessesUsingDir } from './pids.js';

describe('killProcessesUsingDir (a dead privhelper\'s build tools)', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('kills a process whose cwd is inside the dir, and not one beside it', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ph-users-'));
    const build = path.join(dir, 'build', 'debian-bookworm-abc123');
    await mkdir(build, { recursive: true });
    const tool = spawn('sleep', ['60'], { cwd: build, stdio: 'ignore' });
    const bystander = spawn('sleep', ['60'], { cwd: dir, stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(await killProcessesUsingDir(path.join(dir, 'build'))).toEqual([tool.pid]);
      await new Promise((r) => setTimeout(r, 50));
      expect(tool.signalCode).toBe('SIGKILL');
      expect(await isAlive(bystander.pid ?? 0)).toBe(true);
    } finally {
      tool.kill('SIGKILL');
      bystander.kill('SIGKILL');
    }
  });
});
