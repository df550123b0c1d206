import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { vmv1 } from '@banger/api';
import { operationHandlers, type OperationLog, type OperationRunner } from '@banger/operations';
import { describe, expect, it } from 'vitest';
import { vmUseCases } from '../../daemon.js';
import { VmEvents } from './events.js';
import { filesHandlers } from './files-handlers.js';
import { forwardHandlers } from './forward-handlers.js';
import { guestHandlers } from './guest-handlers.js';
import { lifecycleHandlers } from './lifecycle-handlers.js';
import { queryHandlers } from './query-handlers.js';
import { forkHandlers } from './fork-handlers.js';
import { snapshotHandlers } from './snapshot-handlers.js';
import { suspendHandlers } from './suspend-handlers.js';
import type { HandlerDeps, VmUseCases } from './use-cases.js';
import { VmView } from './vm-convert.js';
import { warmHandlers } from './warm-handlers.js';
import { vmServiceImplementation } from './vm-service.js';

const PROTO = fileURLToPath(new URL('../../../../../proto/banger/vm/v1/vm_service.proto', import.meta.url));
const APP = fileURLToPath(new URL('../../app/', import.meta.url));

/** Served by shared packages, not by a vmd use case: server info and the durable-operation RPCs. */
const SHARED = ['GetServerInfo', 'WatchOperation', 'GetOperation', 'ListOperations', 'CancelOperation'];

/** Each vmd RPC and the app/<verb>.ts file holding its use case (a class named like the RPC). */
const USE_CASE_FILES: Record<string, string> = {
  CreateVm: 'create',
  StartVm: 'start',
  StopVm: 'stop',
  RestartVm: 'restart',
  KillVm: 'kill',
  DeleteVm: 'delete',
  PruneVms: 'prune',
  GetVm: 'get',
  ListVms: 'list',
  TouchVm: 'touch',
  ResizeWorkDisk: 'resize',
  SetVmEgress: 'set-egress',
  PromoteVm: 'promote',
  ExecVm: 'exec',
  StreamExecVm: 'stream-exec',
  GetVmPorts: 'ports',
  GetVmStats: 'stats',
  StreamVmConsole: 'console',
  CollectGarbage: 'collect-garbage',
  OpenTunnel: 'open-tunnel',
  ForwardPort: 'forward-port',
  UnforwardPort: 'unforward-port',
  SetAutoForward: 'set-auto-forward',
  PauseVm: 'pause',
  ResumeVm: 'resume',
  SuspendVm: 'suspend',
  UploadFiles: 'upload-files',
  DownloadFiles: 'download-files',
  SnapshotVm: 'snapshot',
  ListSnapshots: 'list-snapshots',
  GetSnapshot: 'get-snapshot',
  DeleteSnapshot: 'delete-snapshot',
  PruneSnapshots: 'prune-snapshots',
  CreateVmFromSnapshot: 'create-from-snapshot',
  WarmImage: 'warm-image',
  ForkVm: 'fork',
};

const lower = (rpc: string): string => rpc[0]?.toLowerCase() + rpc.slice(1);
const rpcs = [...readFileSync(PROTO, 'utf8').matchAll(/^\s*rpc\s+(\w+)\s*\(/gm)].map((m) => m[1] ?? '');

const deps: HandlerDeps = {
  useCases: {} as VmUseCases,
  runner: {} as OperationRunner,
  operations: {} as OperationLog,
  view: new VmView(),
  events: new VmEvents(new VmView()),
  bounds: { memoryMib: { min: 1, default: 1, max: 1 }, vcpus: { min: 1, default: 1, max: 1 }, workDiskGib: { min: 1, default: 1, max: 1 } },
  defaultImage: 'd',
};

describe('every VmService RPC in the proto has exactly one handler and one use case', () => {
  it('reads the RPCs from the proto, as the generated service has them', () => {
    expect(rpcs.length).toBeGreaterThan(20);
    expect(rpcs.map(lower).sort()).toEqual(Object.keys(vmv1.VmServiceService).sort());
  });

  it('serves each RPC with one handler, from one handler group', () => {
    const impl = vmServiceImplementation(deps);
    expect(Object.keys(impl).sort()).toEqual(rpcs.map(lower).sort());
    for (const h of Object.values(impl)) expect(typeof h).toBe('function');
    const groups = [
      Object.keys(lifecycleHandlers(deps)),
      Object.keys(queryHandlers(deps)),
      Object.keys(guestHandlers(deps)),
      Object.keys(forwardHandlers(deps)),
      Object.keys(filesHandlers(deps)),
      Object.keys(suspendHandlers(deps)),
      Object.keys(snapshotHandlers(deps)),
      Object.keys(warmHandlers(deps)),
      Object.keys(forkHandlers(deps)),
      Object.keys(operationHandlers({ log: deps.operations, runner: deps.runner, eventToProto: deps.events.stored })),
      ['getServerInfo'],
    ].flat();
    expect(groups.sort()).toEqual(rpcs.map(lower).sort());
  });

  it('maps each vmd RPC to one app/<verb>.ts use case, wired under its handler name', async () => {
    const own = rpcs.filter((r) => !SHARED.includes(r));
    expect(Object.keys(USE_CASE_FILES).sort()).toEqual(own.sort());
    const wired = vmUseCases({} as Parameters<typeof vmUseCases>[0]) as unknown as Record<string, unknown>;
    expect(Object.keys(wired).sort()).toEqual(own.map(lower).sort());
    for (const rpc of own) {
      const mod = (await import(/* @vite-ignore */ `${APP}${USE_CASE_FILES[rpc]}.ts`)) as Record<string, unknown>;
      const cls = mod[rpc];
      expect(typeof cls, `app/${USE_CASE_FILES[rpc]}.ts exports ${rpc}`).toBe('function');
      expect(wired[lower(rpc)]).toBeInstanceOf(cls as new (...a: never[]) => unknown);
    }
  });

  it('has no second use case for an RPC elsewhere in app/', () => {
    const own = rpcs.filter((r) => !SHARED.includes(r));
    for (const file of readdirSync(APP).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const text = readFileSync(`${APP}${file}`, 'utf8');
      const classes = [...text.matchAll(/export class (\w+)/g)].map((m) => m[1] ?? '').filter((c) => own.includes(c));
      const expected = Object.entries(USE_CASE_FILES).filter(([, f]) => `${f}.ts` === file).map(([r]) => r);
      expect(classes, file).toEqual(expected);
    }
  });
});
