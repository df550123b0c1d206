import { RpcError } from '@banger/runtime';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describeError } from '../cli.js';
import { UsageError } from '../errors.js';

/** What an agent gets back when a tool fails: enough to retry, or to quote the op id. */
export interface ToolErrorBody {
  code: string;
  reason: string;
  message: string;
  opId?: string;
  field?: string;
  /** What to do about it, as the CLI would print it (e.g. the socket to point at). */
  hint?: string;
}

/** A successful tool answer: the value as JSON text (for any client) and as structured content. */
export function toolOk(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

/**
 * A failed tool call as an MCP tool error (isError), not a protocol error: the model sees the
 * daemon's message with the reason and op id, as `banger` would print them.
 */
export function toolError(err: unknown): CallToolResult {
  const body = errorBody(err);
  const text = `${body.code} ${body.reason}: ${body.message}${body.opId && !body.message.includes(body.opId) ? ` (${body.opId})` : ''}${body.hint ? `\nhint: ${body.hint}` : ''}`;
  return { isError: true, content: [{ type: 'text', text }], structuredContent: { error: body } };
}

export function errorBody(err: unknown): ToolErrorBody {
  if (err instanceof ToolInputError) return { code: 'INVALID_ARGUMENT', reason: err.reason, message: err.message, field: err.field };
  if (err instanceof RpcError || err instanceof UsageError) {
    // The CLI's own reading of a failure: same message, reason and hint as `banger` prints.
    const r = describeError(err, 'mcp');
    const field = r.fields['field'] ?? (err instanceof RpcError ? err.fieldViolations[0]?.field : undefined);
    return { code: r.code, reason: r.reason, message: r.message, ...(r.opId ? { opId: r.opId } : {}), ...(field ? { field } : {}), ...(r.hint && err instanceof RpcError ? { hint: r.hint } : {}) };
  }
  return { code: 'INTERNAL', reason: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Input the MCP server refuses itself, before any daemon sees it (e.g. a file too big to send). */
export class ToolInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly reason = 'INVALID_ARGUMENT',
  ) {
    super(message);
    this.name = 'ToolInputError';
  }
}
