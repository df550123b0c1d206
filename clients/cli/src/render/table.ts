// eslint-disable-next-line no-control-regex -- stripping ANSI escapes needs the ESC character
const ANSI = /\x1b\[[0-9;]*m/g;

function visibleWidth(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/**
 * Renders rows under headers with columns aligned by the widest cell, two spaces apart; the last
 * column is not padded so lines carry no trailing blanks.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    headers
      .map((_, i) => {
        const cell = cells[i] ?? '';
        return i === headers.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleWidth(cell));
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Renders `key  value` pairs with the keys aligned, skipping pairs whose value is empty. */
export function renderFields(pairs: readonly (readonly [string, string | undefined])[], indent = ''): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}\n`).join('');
}
