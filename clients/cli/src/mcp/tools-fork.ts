import * as vmv1 from '@banger/api/vm';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ToolContext } from './tool-context.js';
import { toolOk } from './tool-result.js';
import { followWithProgress } from './tools-vm.js';
import { vmSummary } from './vm-json.js';

/** fork_vm: ForkVm with its per-clone stages as progress notifications. */
export function registerForkTool(server: McpServer, t: ToolContext): void {
  server.registerTool(
    'fork_vm',
    {
      title: 'Fork a VM',
      description:
        "Snapshots a running VM (which keeps running) and starts COUNT clones of it named PREFIX-1..PREFIX-COUNT, each with its own MAC, address, NAME.vm, hostname, machine-id and SSH host keys; they have the source's files as of the fork (and its service secrets). Each clone's stages are reported as progress notifications (CLONE:STAGE). A clone that fails is rolled back and listed in `failed`; the others stay.",
      inputSchema: {
        ref: z.string().min(1).describe('the running VM to fork (name or id)'),
        count: z.number().int().min(1).max(16).default(1).describe('how many clones (1-16, default 1)'),
        prefix: z.string().optional().describe("clone name prefix (default: the source VM's name)"),
        wait: z.boolean().default(true).describe("wait for the clones' guest services to be ready (default true)"),
      },
    },
    ({ ref, count, prefix, wait }, extra) =>
      t.call(extra, async (opts) => {
        const request = vmv1.ForkVmRequest.fromPartial({ ref, count, prefix: prefix ?? '', noWait: !wait });
        let result: vmv1.ForkResult | undefined;
        let opId = opts.opId ?? '';
        await followWithProgress(extra, t.vmd.forkVm(request, opts), (event) => {
          if (event.body?.$case === 'accepted') opId = event.body.value.opId || opId;
          if (event.body?.$case === 'fork') result = event.body.value;
        });
        if (!result) throw new Error('the fork stream ended without its result');
        return toolOk({ source: result.source, clones: result.clones.map(vmSummary), failed: result.failed.map((f) => ({ ...f })), pauseMs: Number(result.pauseMs), opId });
      }),
  );
}
