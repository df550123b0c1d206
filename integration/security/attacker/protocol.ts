/** The line protocol between the test (root) and the attacker agent (uid banger). */

export type AgentRequest = { id: number } & (
  | { op: 'whoami' }
  /** A helper RPC; `request` is the base64 protobuf encoding of the request message. */
  | { op: 'unary'; method: string; request: string; timeoutMs: number }
  /** A server-streaming helper RPC, cancelled by the client after `cancelAfter` events (0: never). */
  | { op: 'stream'; method: string; request: string; timeoutMs: number; cancelAfter: number }
  | { op: 'fs'; action: string; args: Record<string, unknown> }
  | { op: 'exec'; file: string; args: string[]; cwd?: string; timeoutMs: number }
  | { op: 'spawn'; file: string; args: string[] }
  | { op: 'stop'; pid: number }
  | { op: 'output'; pid: number }
  | { op: 'pids'; needle: string }
  /** Binds a Unix socket server at `path` and keeps it open until `unlisten`. */
  | { op: 'listen'; path: string }
  | { op: 'unlisten'; path: string }
);

/** A refused helper call as the attacker's gRPC client saw it. */
export interface AgentRpcError {
  code: number;
  codeName: string;
  reason: string;
  details: string;
  opId: string;
  metadata: Record<string, string>;
}

export interface ExecResult {
  code: number;
  signal?: string | null;
  stdout: string;
  stderr: string;
}

/** Distributes Omit over the union so each variant keeps its own fields. */
export type AgentCommand = AgentRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;
