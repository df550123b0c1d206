import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { BANGER_VERSION } from '@banger/runtime';
import type { CommandContext } from '../context.js';
import { streamGuestFiles } from './guest-files.js';
import { ToolContext } from './tool-context.js';
import { registerForkTool } from './tools-fork.js';
import { registerGuestTools } from './tools-guest.js';
import { registerVmTools } from './tools-vm.js';
import { mcpVmd } from './vmd-port.js';

/** An MCP server with banger's tools over the given ports (the integration test and `banger mcp` share it). */
export function buildMcpServer(tools: ToolContext): McpServer {
  const server = new McpServer(
    { name: 'banger', version: BANGER_VERSION },
    { instructions: 'banger runs microVM sandboxes. Create a VM with create_vm, run commands with exec, move files with read_file/write_file, reach guest services through list_ports forwards, and delete_vm when done.' },
  );
  registerVmTools(server, tools);
  registerForkTool(server, tools);
  registerGuestTools(server, tools);
  return server;
}

/** `banger mcp`: serves MCP on stdin/stdout until the client closes the connection. */
export async function serveMcp(ctx: CommandContext): Promise<number> {
  const vmd = mcpVmd(ctx.vmd());
  const server = buildMcpServer(new ToolContext(vmd, streamGuestFiles(vmd)));
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
  return 0;
}
