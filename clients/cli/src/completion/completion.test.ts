import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_OPTIONS } from '../cli.js';
import { completionScript } from '../commands/completion.js';
import { COMMANDS, GROUPS } from '../commands/index.js';
import { completionModel } from './model.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
const shellPath = (shell: string): string | undefined => ['/usr/bin', '/bin'].map((d) => join(d, shell)).find((p) => existsSync(p));

let dir: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-completion-'));
  // A stand-in `banger` on PATH for what the scripts call: `banger __complete vms`.
  writeFileSync(join(dir, 'banger'), '#!/bin/sh\n[ "$1 $2" = "__complete vms" ] && printf "dev\\nold-box\\n"\n');
  chmodSync(join(dir, 'banger'), 0o755);
  for (const shell of SHELLS) {
    scripts[shell] = await completionScript(shell);
    writeFileSync(join(dir, `banger.${shell}`), scripts[shell] ?? '');
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sh(shell: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(shellPath(shell) ?? shell, args, { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir }, cwd: dir });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('completion scripts', () => {
  it.each(SHELLS)('%s parses (<shell> -n)', (shell) => {
    if (!shellPath(shell)) {
      console.warn(`SKIPPED: ${shell} is not installed (scripts/install-deps.sh --test installs it)`);
      return;
    }
    const r = sh(shell, ['-n', join(dir, `banger.${shell}`)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('names every registered command and every flag in each script', () => {
    const visible = COMMANDS.filter((c) => !c.hidden);
    for (const shell of SHELLS) {
      const script = scripts[shell] ?? '';
      for (const c of visible) {
        for (const word of c.path) expect(script, `${shell}: ${c.path.join(' ')}`).toMatch(new RegExp(`[\\s']${word}[\\s':]`));
        for (const flag of Object.keys(c.options ?? {})) expect(script, `${shell}: ${c.path.join(' ')} --${flag}`).toContain(flag);
      }
      expect(script).not.toContain('__complete\'');
    }
    const model = completionModel(COMMANDS, GLOBAL_OPTIONS, GROUPS);
    const paths = new Set(model.paths.map((p) => p.path));
    for (const c of visible) expect(paths.has(c.path.join(' '))).toBe(true);
  });

  it('skips only values of flags that take one everywhere (one flag name, one kind)', () => {
    const kinds = new Map<string, Set<string>>();
    for (const o of [GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options ?? {})]) {
      for (const [name, spec] of Object.entries(o)) kinds.set(name, (kinds.get(name) ?? new Set()).add(spec.type));
    }
    expect([...kinds].filter(([, k]) => k.size > 1).map(([n]) => n)).toEqual([]);
  });

  it('marks the VM argument of vm commands and image promote, and not of image or kernel commands', () => {
    const model = completionModel(COMMANDS, GLOBAL_OPTIONS, GROUPS);
    const vmArg = new Set(model.paths.filter((p) => p.vmArg).map((p) => p.path));
    for (const p of ['vm show', 'vm stop', 'vm ssh', 'vm exec', 'image promote']) expect(vmArg.has(p), p).toBe(true);
    for (const p of ['vm create', 'vm list', 'vm watch', 'image show', 'kernel rm']) expect(vmArg.has(p), p).toBe(false);
  });

  it('bash completes groups, subcommands, flags and live VM names', () => {
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const program = [
        `source ${join(dir, 'banger.bash')}`,
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
        `COMP_CWORD=${words.length - 1}`,
        '_banger',
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n');
      const r = sh('bash', ['-c', program]);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(complete('banger ')).toEqual(expect.arrayContaining(['vm', 'image', 'kernel', 'ops', 'system', 'doctor', 'completion']));
    expect(complete('banger ')).not.toContain('__complete');
    expect(complete('banger vm s').every((w) => w.startsWith('s'))).toBe(true);
    expect(complete('banger vm s')).toEqual(expect.arrayContaining(['show', 'start', 'stop', 'ssh']));
    expect(complete('banger vm show ')).toEqual(['dev', 'old-box']);
    expect(complete('banger --timeout 5s vm show o')).toEqual(['old-box']);
    expect(complete('banger vm show dev ')).toEqual([]);
    expect(complete('banger vm create --')).toEqual(expect.arrayContaining(['--name', '--memory', '--json', '--vmd-socket']));
    expect(complete('banger vm create --name ')).not.toContain('dev');
  });

  it('fish completes the same words with descriptions', () => {
    if (!shellPath('fish')) {
      console.warn('SKIPPED: fish is not installed (scripts/install-deps.sh --test installs it)');
      return;
    }
    const complete = (line: string): string[] => {
      const r = sh('fish', ['-c', `source ${join(dir, 'banger.fish')}; complete -C ${JSON.stringify(line)}`]);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0] ?? '');
    };
    expect(complete('banger ')).toEqual(expect.arrayContaining(['vm', 'image', 'doctor', 'completion']));
    expect(complete('banger vm s')).toEqual(expect.arrayContaining(['show', 'start', 'stop', 'ssh']));
    expect(complete('banger vm show ')).toEqual(['dev', 'old-box']);
    expect(complete('banger --json vm stop ')).toEqual(['dev', 'old-box']);
    expect(complete('banger vm show dev ')).toEqual([]);
    expect(complete('banger vm create --n')).toEqual(expect.arrayContaining(['--name', '--no-wait']));
  });

  it('refuses an unknown shell naming the choices', async () => {
    await expect(completionScript('tcsh')).rejects.toThrow(/unknown shell "tcsh"/);
  });
});
