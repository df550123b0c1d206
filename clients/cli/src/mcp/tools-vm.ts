import * as vmv1 from '@banger/api/vm';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ToolContext } from './tool-context.js';
import { toolOk } from './tool-result.js';
import { vmDetail, vmSummary } from './vm-json.js';

const ref = z.string().min(1).describe('VM name or id');

/** How a create event reads in an MCP progress notification. */
export function progressMessage(event: vmv1.OperationEvent): string | undefined {
  const body = event.body;
  switch (body?.$case) {
    case 'accepted':
      return `accepted ${body.value.opId}`;
    case 'stageStarted':
      return `${body.value.stage}: ${body.value.description || 'started'}`;
    case 'stageFinished':
      return `${body.value.stage}: ${body.value.ok ? 'done' : 'failed'} in ${body.value.durationMs} ms${body.value.message ? ` (${body.value.message})` : ''}`;
    case 'progress':
      return `${body.value.stage}: ${body.value.done}${body.value.total ? `/${body.value.total}` : ''} ${body.value.unit}`.trimEnd();
    case 'failure':
      return `${body.value.stage}: ${body.value.reason} ${body.value.message}`;
    default:
      return undefined;
  }
}

/** What a tool handler gets to send notifications with (the SDK's `extra`). */
export interface ProgressExtra {
  _meta?: { progressToken?: string | number | undefined } | undefined;
  sendNotification: (n: { method: 'notifications/progress'; params: { progressToken: string | number; progress: number; message: string } }) => Promise<void>;
}

/** Reads an operation stream to its end, each event a progress notification when the client asked for them. */
export async function followWithProgress(extra: ProgressExtra, stream: AsyncIterable<vmv1.OperationEvent>, onEvent: (event: vmv1.OperationEvent) => void): Promise<void> {
  const token = extra._meta?.progressToken;
  let step = 0;
  for await (const event of stream) {
    onEvent(event);
    const message = progressMessage(event);
    if (token !== undefined && message !== undefined) {
      step += 1;
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: step, message } });
    }
  }
}

export function registerVmTools(server: McpServer, t: ToolContext): void {
  server.registerTool(
    'list_vms',
    { title: 'List VMs', description: 'All banger VMs with their state, image and address.', inputSchema: {}, annotations: { readOnlyHint: true } },
    (_args, extra) => t.call(extra, async (opts) => toolOk({ vms: (await t.vmd.listVms(opts)).map(vmSummary) })),
  );

  server.registerTool(
    'get_vm',
    { title: 'Show a VM', description: 'One VM in full: state, network, services, forwards, egress policy.', inputSchema: { ref }, annotations: { readOnlyHint: true } },
    ({ ref }, extra) => t.call(extra, async (opts) => toolOk({ vm: vmDetail(await t.vmd.getVm(ref, opts)) })),
  );

  server.registerTool(
    'create_vm',
    {
      title: 'Create a VM',
      description:
        'Creates and boots a microVM and waits until its services are ready (minutes under software emulation: ask with a long timeout and a progress token; each stage is reported as a progress notification). A cancelled call rolls the VM back.',
      inputSchema: {
        name: z.string().min(1).describe('VM name: a DNS label (lowercase letters, digits, hyphens); the VM answers as NAME.vm'),
        image: z.string().optional().describe('image name or id (default: the configured default image)'),
        memory_mib: z.number().int().positive().optional().describe('guest memory in MiB (default from the config)'),
        vcpus: z.number().int().positive().optional().describe('virtual CPUs (default from the config)'),
        wait: z.boolean().default(true).describe('wait for the guest services to be ready (default true)'),
      },
    },
    ({ name, image, memory_mib, vcpus, wait }, extra) =>
      t.call(extra, async (opts) => {
        const request = vmv1.CreateVmRequest.fromPartial({ name, image: image ?? '', memoryMib: memory_mib ?? 0, vcpus: vcpus ?? 0, noWait: !wait, cancelOnDetach: true });
        let vm: vmv1.Vm | undefined;
        await followWithProgress(extra, t.vmd.createVm(request, opts), (event) => {
          if (event.body?.$case === 'vm') vm = event.body.value;
        });
        if (!vm) throw new Error('the create stream ended without the VM');
        return toolOk({ vm: vmSummary(vm), createOpId: vm.createOpId });
      }),
  );

  server.registerTool(
    'delete_vm',
    {
      title: 'Delete a VM',
      description: 'Stops (or with force, kills) a VM and deletes it with its disks.',
      inputSchema: { ref, force: z.boolean().default(false).describe('kill instead of stopping gracefully') },
      annotations: { destructiveHint: true },
    },
    ({ ref, force }, extra) =>
      t.call(extra, async (opts) => {
        const vm = await t.vmd.deleteVm(ref, force, opts);
        return toolOk({ deleted: vm ? vmSummary(vm) : { name: ref } });
      }),
  );

  server.registerTool(
    'list_ports',
    {
      title: 'List guest ports',
      description: 'Sockets listening in the guest and the port forwards to host loopback (127.0.0.1:HOST_PORT reaches the guest port).',
      inputSchema: { ref },
      annotations: { readOnlyHint: true },
    },
    ({ ref }, extra) => t.call(extra, async (opts) => toolOk(vmv1.GetVmPortsResponse.toJSON(await t.vmd.getVmPorts(ref, opts)) as Record<string, unknown>)),
  );
}
