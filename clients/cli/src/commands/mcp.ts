import type { CommandSpec } from '../command.js';

export const mcpCommand: CommandSpec = {
  path: ['mcp'],
  ownsInterrupt: true,
  summary: 'Serve banger to an AI agent over MCP (Model Context Protocol) on stdin/stdout',
  description:
    'Tools: list_vms, get_vm, create_vm, delete_vm, exec, read_file, write_file, list_ports.\nStart it from an MCP client (see the README for the configuration snippet); stdout carries the protocol, so nothing else is printed there.',
  async run(ctx) {
    // Loaded here so no other command pays for the MCP SDK at start-up.
    const { serveMcp } = await import('../mcp/server.js');
    return serveMcp(ctx);
  },
};
