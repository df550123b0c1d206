/** Human durations: `45ms`, `0.4s`, `12.3s`, `1m02s`, `3h05m`. */
export function formatDuration(ms: number): string {
  if (ms < 100) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Coarse age for tables: `12s`, `5m`, `3h`, `2d`. */
export function formatAge(from: Date | undefined, now: Date): string {
  if (!from) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - from.getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Binary sizes: `512B`, `1.5K`, `512M`, `2.0G`. */
export function formatBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}${units[i]}`;
}

/** Enum text from ts-proto's `xxxToJSON`, without the prefix: `VM_STATE_RUNNING` → `running`. */
export function enumLabel(json: string, prefix: string): string {
  if (json.endsWith('_UNSPECIFIED') || json === 'UNRECOGNIZED') return '-';
  return (json.startsWith(prefix) ? json.slice(prefix.length) : json).toLowerCase().replaceAll('_', '-');
}

export function formatTime(d: Date | undefined): string | undefined {
  return d ? d.toISOString() : undefined;
}
