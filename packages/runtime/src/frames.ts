import { InvalidArgumentError } from './errors.js';

/**
 * Length-prefixed frames (4-byte big-endian length, then the bytes) for the few local channels
 * that are not gRPC because they carry descriptors. A frame above `maxBytes` is refused: the
 * peer is not trusted to size our buffers.
 */
export function encodeFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Accumulates bytes until one whole frame is in; `take` then returns it (once). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length >= 4 && this.buf.readUInt32BE(0) > this.maxBytes) {
      throw new InvalidArgumentError('frame', `announces ${this.buf.readUInt32BE(0)} bytes, more than ${this.maxBytes}`, 'FRAME_TOO_LARGE');
    }
  }

  /** The first complete frame's body, or undefined while it is incomplete. */
  take(): Buffer | undefined {
    if (this.buf.length < 4) return undefined;
    const len = this.buf.readUInt32BE(0);
    if (this.buf.length < 4 + len) return undefined;
    const body = this.buf.subarray(4, 4 + len);
    this.buf = this.buf.subarray(4 + len);
    return body;
  }
}
