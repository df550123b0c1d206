import { Metadata, status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import { googleRpc } from '@banger/api';
import { clipBytes, ERROR_CODES, MAX_MESSAGE_BYTES, publicMessage, toBangerError, type BangerError, type ErrorCode } from '../errors.js';
import { OP_ID_METADATA_KEY } from '../opid.js';

/** ErrorInfo.domain of every banger error. */
export const ERROR_DOMAIN = 'banger.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';

const CODE_BY_NAME: Record<ErrorCode, GrpcStatus> = Object.fromEntries(
  ERROR_CODES.map((name) => [name, GrpcStatus[name]]),
) as Record<ErrorCode, GrpcStatus>;

export function codeName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

export function grpcCodeOf(code: ErrorCode): GrpcStatus {
  return CODE_BY_NAME[code];
}

/** Bounds of what an error carries in ErrorInfo metadata: keys, each value, all values together. */
const MAX_FIELD_KEY_BYTES = 64;
const MAX_FIELD_VALUE_BYTES = 128;
const MAX_FIELDS_BYTES = 1024;
const MAX_REASON_BYTES = 64;

/**
 * Error fields as they may travel: each key and value clipped, and once the budget is spent the
 * rest dropped (`field` first, so INVALID_ARGUMENT always names its field). Statuses travel in
 * HTTP/2 trailers, which gRPC caps at 8 KiB: an echoed input must never get near that.
 */
export function boundedFields(fields: Readonly<Record<string, string>>): Record<string, string> {
  const clipped = Object.entries(fields).map(([k, v]) => [clipBytes(k, MAX_FIELD_KEY_BYTES), clipBytes(v, MAX_FIELD_VALUE_BYTES)] as const);
  const kept = new Set<string>();
  let used = 0;
  for (const [k, v] of [...clipped.filter(([k]) => k === 'field'), ...clipped.filter(([k]) => k !== 'field')]) {
    const size = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (used + size > MAX_FIELDS_BYTES) break;
    kept.add(k);
    used += size;
  }
  return Object.fromEntries(clipped.filter(([k]) => kept.has(k)));
}

function encodeDetails(code: number, message: string, reasonIn: string, fieldsIn: Readonly<Record<string, string>>, opId: string): Buffer {
  const reason = clipBytes(reasonIn, MAX_REASON_BYTES);
  const fields = boundedFields(fieldsIn);
  const details: googleRpc.Any[] = [
    {
      typeUrl: ERROR_INFO_TYPE_URL,
      value: Buffer.from(googleRpc.ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata: { ...fields, op_id: opId } }).finish()),
    },
  ];
  const field = fields['field'];
  if (code === GrpcStatus.INVALID_ARGUMENT && field !== undefined) {
    details.push({
      typeUrl: BAD_REQUEST_TYPE_URL,
      value: Buffer.from(googleRpc.BadRequest.encode({ fieldViolations: [{ field, description: message, reason, localizedMessage: undefined }] }).finish()),
    });
  }
  return Buffer.from(googleRpc.Status.encode({ code, message, details }).finish());
}

/**
 * The one place where errors become wire statuses. INTERNAL always goes out with a plain
 * message (a database's or a tool's own text stays in the log, with the op id), and every
 * message and field is bounded, so echoed input cannot blow the trailers' size limit.
 */
export function statusFromError(err: unknown, opId: string): StatusObject {
  const e: BangerError = toBangerError(err);
  const code = grpcCodeOf(e.code);
  const message = publicMessage(e);
  const metadata = new Metadata();
  metadata.set(OP_ID_METADATA_KEY, opId);
  metadata.set(STATUS_DETAILS_KEY, encodeDetails(code, message, e.reason, e.fields, opId));
  return { code, details: message, metadata };
}

/**
 * Every status leaving a daemon carries the op id as a trailer and, when it is an error,
 * a google.rpc.Status with ErrorInfo, even when grpc-js itself produced it (bad message,
 * deadline, unknown method) rather than our handlers.
 */
export interface PartialStatus {
  code: number;
  details: string;
  metadata?: Metadata | null | undefined;
}

export function ensureStatusDetails(status: PartialStatus, opId: string): PartialStatus {
  const metadata = status.metadata ?? new Metadata();
  metadata.set(OP_ID_METADATA_KEY, opId);
  const code = status.code;
  if (code !== GrpcStatus.OK && metadata.get(STATUS_DETAILS_KEY).length === 0) {
    const message = clipBytes(status.details || codeName(code), MAX_MESSAGE_BYTES);
    metadata.set(STATUS_DETAILS_KEY, encodeDetails(code, message, codeName(code), {}, opId));
    return { ...status, details: message, code, metadata };
  }
  return { ...status, code, metadata };
}

export interface DecodedStatusDetails {
  reason: string | undefined;
  domain: string | undefined;
  metadata: Record<string, string>;
  fieldViolations: { field: string; description: string }[];
}

export function decodeStatusDetails(metadata: Metadata | undefined): DecodedStatusDetails | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!Buffer.isBuffer(raw)) return undefined;
  try {
    const status = googleRpc.Status.decode(raw);
    const out: DecodedStatusDetails = { reason: undefined, domain: undefined, metadata: {}, fieldViolations: [] };
    for (const any of status.details) {
      if (any.typeUrl === ERROR_INFO_TYPE_URL) {
        const info = googleRpc.ErrorInfo.decode(any.value);
        out.reason = info.reason;
        out.domain = info.domain;
        out.metadata = { ...info.metadata };
      } else if (any.typeUrl === BAD_REQUEST_TYPE_URL) {
        const br = googleRpc.BadRequest.decode(any.value);
        for (const v of br.fieldViolations) out.fieldViolations.push({ field: v.field, description: v.description });
      }
    }
    return out;
  } catch {
    return undefined;
  }
}
