import { FailedPreconditionError } from '@banger/runtime/errors';

/**
 * The longest line (one JSON answer) vmd accepts from a guest agent, and the most it buffers
 * unread. Every answer vmd asks for is small (file reads come in READ_CHUNK_BYTES pieces), so a
 * guest that sends more, or never sends a newline, is misbehaving and its connection is dropped.
 */
export const MAX_AGENT_LINE_BYTES = 1 << 20;

/** How much one guest-file-read asks for; its base64 answer stays far below the line cap. */
export const READ_CHUNK_BYTES = 64 * 1024;

/** A guest answer that does not have the shape the protocol promises. */
export function protocolError(command: string, what: string): FailedPreconditionError {
  return new FailedPreconditionError('AGENT_PROTOCOL_ERROR', `guest agent ${command}: ${what}`, { fields: { command } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An integer field within [min, max]; anything else is a protocol error. */
export function intIn(command: string, v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw protocolError(command, `${field} is not an integer in [${min}, ${max}]`);
  return v;
}

/** The pid guest-exec answers. */
export function execPid(v: unknown): number {
  if (!isRecord(v)) throw protocolError('guest-exec', 'answer is not an object');
  return intIn('guest-exec', v['pid'], 'pid', 1, 2 ** 31 - 1);
}

/** A handle guest-file-open answers. */
export function fileHandle(v: unknown): number {
  return intIn('guest-file-open', v, 'handle', 0, Number.MAX_SAFE_INTEGER);
}

/** The position guest-file-seek answers. */
export function seekPosition(v: unknown): number {
  if (!isRecord(v)) throw protocolError('guest-file-seek', 'answer is not an object');
  return intIn('guest-file-seek', v['position'], 'position', 0, Number.MAX_SAFE_INTEGER);
}

/** What guest-exec-status answers for a command started without captured output. */
export interface ExecState {
  exited: boolean;
  exitCode: number | undefined;
  signal: number | undefined;
}

export function execState(v: unknown): ExecState {
  const c = 'guest-exec-status';
  if (!isRecord(v) || typeof v['exited'] !== 'boolean') throw protocolError(c, 'answer has no boolean "exited"');
  return {
    exited: v['exited'],
    exitCode: v['exitcode'] === undefined ? undefined : intIn(c, v['exitcode'], 'exitcode', -(2 ** 31), 2 ** 31 - 1),
    signal: v['signal'] === undefined ? undefined : intIn(c, v['signal'], 'signal', 0, 128),
  };
}

/** Canonical base64, as qemu-ga writes it (no line breaks). */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of one guest-file-read answer, checked: `count` may not exceed what was asked,
 * the base64 must be canonical and no longer than `asked` encodes to, and its decoded length
 * must equal `count` (a guest lying about either gets a protocol error, not a bigger buffer).
 */
export function fileChunk(v: unknown, asked: number): { data: Buffer; eof: boolean } {
  const c = 'guest-file-read';
  if (!isRecord(v)) throw protocolError(c, 'answer is not an object');
  const count = intIn(c, v['count'], 'count', 0, asked);
  const b64 = v['buf-b64'];
  if (typeof b64 !== 'string' || b64.length > 4 * Math.ceil(asked / 3) || !BASE64.test(b64)) throw protocolError(c, `buf-b64 is not base64 of at most ${asked} bytes`);
  const data = Buffer.from(b64, 'base64');
  if (data.length !== count) throw protocolError(c, `count ${count} does not match the ${data.length} bytes sent`);
  const eof = v['eof'];
  if (eof !== undefined && typeof eof !== 'boolean') throw protocolError(c, 'eof is not a boolean');
  return { data, eof: eof === true };
}
