/** A JSON-serialisable object as stored in jsonb columns. */
export type JsonObject = Record<string, unknown>;

export function toJsonParam(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function asObject(value: unknown): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}
