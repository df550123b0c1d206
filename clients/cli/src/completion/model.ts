import type { CommandSpec, OptionSpec } from '../command.js';

/** One flag as the completion scripts see it. */
export interface FlagModel {
  name: string;
  short?: string;
  takesValue: boolean;
  description: string;
}

/** A word in the command tree: a group (`vm`) or a command (`vm create`). */
export interface PathModel {
  /** Words joined with one space; '' is the root. */
  path: string;
  /** Next words under this one, with their one-line summaries. */
  children: { word: string; summary: string }[];
  /** Flags of the command at this path (globals excluded). */
  flags: FlagModel[];
  /** The first positional names a VM (completed live through `banger __complete vms`). */
  vmArg: boolean;
}

/** What every shell's script is generated from: the registry, reduced to words and flags. */
export interface CompletionModel {
  paths: PathModel[];
  globals: FlagModel[];
  /** Every flag name that takes a value anywhere, so a walk over typed words can skip its value. */
  valueFlags: string[];
}

function flagsOf(options: Record<string, OptionSpec> | undefined): FlagModel[] {
  return Object.entries(options ?? {}).map(([name, o]) => ({
    name,
    ...(o.short ? { short: o.short } : {}),
    takesValue: o.type === 'string',
    description: o.description,
  }));
}

/**
 * A VM argument is the first positional of a `vm …` command named REF, or one named VM
 * (`image promote VM`); the registry names positionals only in text, so this is where the
 * convention is read.
 */
function takesVm(c: CommandSpec): boolean {
  const first = c.args?.names.split(' ')[0];
  return (c.path[0] === 'vm' && first === 'REF') || first === 'VM';
}

export function completionModel(
  commands: readonly CommandSpec[],
  globals: Record<string, OptionSpec>,
  groups: Readonly<Record<string, string>>,
): CompletionModel {
  const byPath = new Map<string, PathModel>();
  const node = (path: string): PathModel => {
    let p = byPath.get(path);
    if (!p) {
      p = { path, children: [], flags: [], vmArg: false };
      byPath.set(path, p);
    }
    return p;
  };
  node('');
  for (const c of commands.filter((x) => !x.hidden)) {
    for (let i = 0; i < c.path.length; i++) {
      const parent = node(c.path.slice(0, i).join(' '));
      const here = c.path.slice(0, i + 1).join(' ');
      const word = c.path[i] ?? '';
      if (!parent.children.some((ch) => ch.word === word)) {
        parent.children.push({ word, summary: i === c.path.length - 1 ? c.summary : (groups[here] ?? '') });
      }
      node(here);
    }
    const leaf = node(c.path.join(' '));
    leaf.flags = flagsOf(c.options);
    leaf.vmArg = takesVm(c);
  }
  const globalFlags = flagsOf(globals);
  const valueFlags = new Set<string>();
  for (const f of [...globalFlags, ...[...byPath.values()].flatMap((p) => p.flags)]) if (f.takesValue) valueFlags.add(f.name);
  return { paths: [...byPath.values()], globals: globalFlags, valueFlags: [...valueFlags].sort() };
}

/** Single-quoted for POSIX shells (bash, zsh): `it's` becomes `'it'\''s'`. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
