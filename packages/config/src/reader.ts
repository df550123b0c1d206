import { ConfigError } from './errors.js';
import type { Parser } from './values.js';

function show(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw);
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}

export function envName(section: string, key: string): string {
  return `BANGER_${section.toUpperCase()}_${key.toUpperCase()}`;
}

/**
 * Reads `[section] key` values with env overrides (`BANGER_<SECTION>_<KEY>` beats the file) and
 * remembers what was read, so anything left over is reported as an unknown key.
 */
/** One key as buildConfig reads it: what docs/config.md is generated from. */
export interface TakenKey {
  section: string;
  key: string;
  /** The parser's own description of a valid value (what an error message says). */
  expected: string;
  fallback: unknown;
}

export class Reader {
  private readonly used = new Map<string, Set<string>>();

  constructor(
    private readonly file: Record<string, unknown>,
    private readonly source: string,
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly record?: (taken: TakenKey) => void,
  ) {}

  take<T>(section: string, key: string, parse: Parser<T>, fallback: T): T {
    if (this.record) {
      // A value no parser accepts makes it say what it expects.
      const probe = parse(Symbol('describe'), false);
      this.record({ section, key, expected: probe.ok ? 'any value' : probe.expected, fallback });
    }
    let keys = this.used.get(section);
    if (!keys) {
      keys = new Set();
      this.used.set(section, keys);
    }
    keys.add(key);
    const name = envName(section, key);
    const fromEnv = this.env[name];
    let raw: unknown;
    let source: string;
    if (fromEnv !== undefined) {
      raw = fromEnv;
      source = `environment variable ${name}`;
    } else {
      const sec = this.file[section];
      if (sec === undefined || typeof sec !== 'object' || sec === null || !(key in sec)) return fallback;
      raw = (sec as Record<string, unknown>)[key];
      source = this.source;
    }
    const r = parse(raw, fromEnv !== undefined);
    if (r.ok) return r.value;
    throw new ConfigError(
      'INVALID_CONFIG_VALUE',
      `config: ${section}.${key}: expected ${r.expected}, got ${show(raw)} (from ${source})`,
      { key: `${section}.${key}`, expected: r.expected, source },
    );
  }

  /** Rejects sections and keys nobody read: a typo must not silently fall back to a default. */
  checkUnknown(): void {
    for (const [section, value] of Object.entries(this.file)) {
      const known = this.used.get(section);
      if (!known) {
        throw new ConfigError(
          'UNKNOWN_CONFIG_KEY',
          `config: [${section}]: unknown section (known: ${[...this.used.keys()].join(', ')}) (from ${this.source})`,
          { key: section, source: this.source },
        );
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ConfigError('INVALID_CONFIG_VALUE', `config: [${section}]: expected a table (from ${this.source})`, {
          key: section,
          source: this.source,
        });
      }
      for (const key of Object.keys(value)) {
        if (!known.has(key)) {
          throw new ConfigError(
            'UNKNOWN_CONFIG_KEY',
            `config: ${section}.${key}: unknown key (known: ${[...known].join(', ')}) (from ${this.source})`,
            { key: `${section}.${key}`, source: this.source },
          );
        }
      }
    }
    for (const name of Object.keys(this.env)) {
      for (const [section, known] of this.used) {
        const prefix = `BANGER_${section.toUpperCase()}_`;
        if (!name.startsWith(prefix)) continue;
        const key = name.slice(prefix.length).toLowerCase();
        if (!known.has(key)) {
          throw new ConfigError(
            'UNKNOWN_CONFIG_KEY',
            `config: ${section}.${key}: unknown key (known: ${[...known].join(', ')}) (from environment variable ${name})`,
            { key: `${section}.${key}`, source: `environment variable ${name}` },
          );
        }
      }
    }
  }
}
