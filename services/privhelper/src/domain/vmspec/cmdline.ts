import { invalid } from './errors.js';

/** One kernel command-line item: `key=value`, or a bare flag such as `rw` when value is absent. */
export interface CmdlineArg {
  readonly key: string;
  readonly value?: string;
}

/** Keys the guest kernel/init may be given; `banger.*` carries banger's own guest config. */
const ALLOWED_KEYS = new Set(['console', 'root', 'rw', 'ro', 'panic', 'tsc_early_khz', 'init', 'quiet', 'loglevel', 'net.ifnames']);
const KEY_RE = /^[a-z][a-z0-9_]{0,15}(?:\.[a-z][a-z0-9_]{0,15})?$/;
const BANGER_KEY_RE = /^banger\.[a-z][a-z0-9_.-]{0,47}$/;
/** No whitespace, quotes, backslashes or shell/kernel-parser metacharacters can reach the cmdline. */
const VALUE_RE = /^[A-Za-z0-9_.,:/=@+-]{0,256}$/;
/** x86 COMMAND_LINE_SIZE is 2048 including the NUL; keep room for keys the driver appends. */
export const MAX_CMDLINE_LENGTH = 1900;
const MAX_ARGS = 64;

export function validateCmdline(args: readonly CmdlineArg[]): CmdlineArg[] {
  if (args.length > MAX_ARGS) throw invalid('cmdline', 'OUT_OF_RANGE', `at most ${MAX_ARGS} cmdline arguments`);
  const seen = new Set<string>();
  const out: CmdlineArg[] = [];
  for (const arg of args) {
    const field = `cmdline.${typeof arg.key === 'string' ? arg.key.slice(0, 48) : '?'}`;
    if (typeof arg.key !== 'string' || !(KEY_RE.test(arg.key) || BANGER_KEY_RE.test(arg.key))) {
      throw invalid(field, 'BAD_FIELD', 'cmdline key has characters outside [a-z0-9_.-]');
    }
    if (!ALLOWED_KEYS.has(arg.key) && !arg.key.startsWith('banger.')) {
      throw invalid(field, 'KEY_NOT_ALLOWED', `cmdline key ${arg.key} is not allowed`);
    }
    if (seen.has(arg.key)) throw invalid(field, 'BAD_FIELD', `cmdline key ${arg.key} given twice`);
    seen.add(arg.key);
    if (arg.value !== undefined) {
      if (typeof arg.value !== 'string' || !VALUE_RE.test(arg.value)) {
        throw invalid(field, 'BAD_FIELD', 'cmdline value must match [A-Za-z0-9_.,:/=@+-]{0,256}');
      }
      out.push({ key: arg.key, value: arg.value });
    } else {
      out.push({ key: arg.key });
    }
  }
  if (renderCmdline(out).length > MAX_CMDLINE_LENGTH) {
    throw invalid('cmdline', 'OUT_OF_RANGE', `cmdline longer than ${MAX_CMDLINE_LENGTH} characters`);
  }
  return out;
}

/** Joins already-validated arguments into the single `-append` string. */
export function renderCmdline(args: readonly CmdlineArg[]): string {
  return args.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(' ');
}
