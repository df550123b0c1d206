import { RpcError } from '@banger/runtime';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { UsageError } from '../errors.js';

/** What an agent gets back when a tool fails: enough to retry, or to quote the op id. */
export interface ToolErrorBody {
  code: string;
  reason: string;
  message: string;
  opId?: string;
  field?: string;
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
  const text = `${body.code} ${body.reason}: ${body.message}${body.opId && !body.message.includes(body.opId) ? ` (${body.opId})` : ''}`;
  return { isError: true, content: [{ type: 'text', text }], structuredContent: { error: body } };
}

export function errorBody(err: unknown): ToolErrorBody {
  if (err instanceof RpcError) {
    const field = err.errorMetadata['field'] ?? err.fieldViolations[0]?.field;
    return { code: err.codeName, reason: err.reason, message: err.message, ...(err.opId ? { opId: err.opId } : {}), ...(field ? { field } : {}) };
  }
  if (err instanceof ToolInputError) return { code: 'INVALID_ARGUMENT', reason: err.reason, message: err.message, field: err.field };
  if (err instanceof UsageError) return { code: 'INVALID_ARGUMENT', reason: 'INVALID_ARGUMENT', message: err.message };
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
