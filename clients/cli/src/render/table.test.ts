import { describe, expect, it } from 'vitest';
import { enumLabel, formatAge, formatBytes, formatDuration } from './format.js';
import { renderFields, renderTable } from './table.js';

describe('renderTable', () => {
  it('aligns columns by the widest cell and leaves no trailing blanks', () => {
    const out = renderTable(['NAME', 'STATE', 'IP'], [
      ['dev', 'running', '10.0.0.2'],
      ['a-much-longer-name', 'stopped', ''],
    ]);
    expect(out).toBe(
      ['NAME                STATE    IP', 'dev                 running  10.0.0.2', 'a-much-longer-name  stopped', ''].join('\n'),
    );
  });

  it('ignores ANSI colour codes when measuring', () => {
    const out = renderTable(['A', 'B'], [['\x1b[32mok\x1b[39m', 'x'], ['long', 'y']]);
    const lines = out.split('\n');
    expect(lines[1]?.replaceAll('\x1b[32m', '').replaceAll('\x1b[39m', '')).toBe('ok    x');
    expect(lines[2]).toBe('long  y');
  });

  it('renders fields with aligned keys and skips empty values', () => {
    expect(renderFields([['name', 'dev'], ['ip', ''], ['services', 'opencode']], '  ')).toBe('  name      dev\n  services  opencode\n');
  });
});

describe('formatters', () => {
  it('formats durations', () => {
    expect(formatDuration(45)).toBe('45ms');
    expect(formatDuration(400)).toBe('0.4s');
    expect(formatDuration(12_345)).toBe('12.3s');
    expect(formatDuration(62_000)).toBe('1m02s');
    expect(formatDuration(3 * 3600_000 + 5 * 60_000)).toBe('3h05m');
  });
  it('formats ages, sizes and enum labels', () => {
    const now = new Date('2026-01-10T00:00:00Z');
    expect(formatAge(new Date('2026-01-09T23:59:30Z'), now)).toBe('30s');
    expect(formatAge(new Date('2026-01-03T00:00:00Z'), now)).toBe('7d');
    expect(formatAge(undefined, now)).toBe('-');
    expect(formatBytes(512 * 1024 ** 2)).toBe('512M');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5G');
    expect(enumLabel('VM_STATE_RUNNING', 'VM_STATE_')).toBe('running');
    expect(enumLabel('OPERATION_KIND_VM_CREATE', 'OPERATION_KIND_')).toBe('vm-create');
    expect(enumLabel('VM_STATE_UNSPECIFIED', 'VM_STATE_')).toBe('-');
  });
});
