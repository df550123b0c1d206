import { mintOpId, type CallOptions } from '@banger/runtime';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { GuestFiles } from './guest-files.js';
import { toolError } from './tool-result.js';
import type { McpVmd } from './vmd-port.js';

/** What a tool handler is given by the SDK that matters here. */
export interface ToolExtra {
  signal: AbortSignal;
}

/** The ports every tool uses, and the one wrapper that turns a thrown error into a tool error. */
export class ToolContext {
  constructor(
    readonly vmd: McpVmd,
    readonly files: GuestFiles,
  ) {}

  /**
   * Runs one tool call with its own op id (so every failure names one) and the client's
   * cancellation; any error becomes an MCP tool error rather than a protocol error.
   */
  async call(extra: ToolExtra, fn: (opts: CallOptions) => Promise<CallToolResult>): Promise<CallToolResult> {
    try {
      return await fn({ opId: mintOpId(), signal: extra.signal });
    } catch (err) {
      return toolError(err);
    }
  }
}
