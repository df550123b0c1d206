import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { BangerError, DeadlineExceededError, FailedPreconditionError, InternalError, InvalidArgumentError, ResourceExhaustedError } from '@banger/runtime/errors';
import type { GuestAgent, GuestOutputChunk } from '../../ports/agent.js';
import type { CopyOptions, FileCopyVm, GuestFiles, UploadSpec } from '../../ports/guest-files.js';
import type { GuestConnector } from '../../ports/guest-connect.js';
import { COPY_EXIT, DOWNLOAD_SCRIPT, LISTENER, UPLOAD_SCRIPT } from './guest-scripts.js';

/**
 * How long a refused or unreachable guest port is retried. The script has said it listens, so
 * only the guest's network lags: right after boot on a loaded TCG host that took over 10 s (CI).
 */
const CONNECT_RETRY_MS = 30_000;
/**
 * Longest pause between polls of the guest copy script. Under TCG the guest CPU is what limits
 * a copy, and each poll (a connection, a sync, a status, two reads) takes some of it from tar.
 */
const COPY_POLL_MS = 2000;
/** A download's data messages: what the guest sent while the last one went out, up to this. */
const BATCH_BYTES = 1 << 20;
/** Most stderr kept from the guest side, for the error message. */
const MAX_STDERR = 4096;

interface GuestSide {
  /** The port the guest listens on, or undefined when the script ended before listening. */
  port: Promise<number | undefined>;
  /** How the script ended, with its stdout lines after the port and its stderr. */
  done: Promise<{ exitCode: number; signal: string; timedOut: boolean; lines: string[]; stderr: string }>;
}

/**
 * GuestFiles over a plain TCP stream into the guest: the guest agent starts the copy script
 * (which listens on an ephemeral port), privhelper's ConnectGuest hands vmd a connected socket
 * (so it works wherever the VMs live), and the tar stream flows over it with a random token
 * first. No root process parses the bytes: privhelper only connects; vmd relays and checks.
 * Measured against the guest agent's own file calls in docs/files.md.
 */
export class TcpGuestFiles implements GuestFiles {
  constructor(private readonly deps: { agent: Pick<GuestAgent, 'execStream'>; connector: GuestConnector }) {}

  async upload(vm: FileCopyVm, spec: UploadSpec, source: AsyncIterable<Buffer>, opts: CopyOptions): Promise<{ guestPath: string }> {
    const token = randomBytes(24).toString('hex');
    const guest = this.start(vm, [spec.destPath, spec.mustBeDir ? '1' : '0', spec.name, token, LISTENER], UPLOAD_SCRIPT, opts);
    const port = await guest.port;
    if (port === undefined) throw failure(await guest.done, spec.destPath);
    const socket = await this.connect(vm, port, token, opts, guest);
    let sourceError: Error | undefined;
    try {
      for await (const chunk of source) {
        opts.signal.throwIfAborted();
        if (!socket.write(chunk)) await drained(socket);
      }
      await endAndClose(socket);
    } catch (err) {
      sourceError = asError(err);
      await resetConnection(socket);
    }
    const end = await guest.done;
    if (sourceError !== undefined) throw sourceError;
    if (end.exitCode !== 0 || end.signal || end.timedOut) throw failure(end, spec.destPath);
    const guestPath = end.lines[0];
    if (!guestPath) throw new InternalError('the guest copy ended without naming where the files went');
    return { guestPath };
  }

  async download(vm: FileCopyVm, sourcePath: string, sink: (chunk: Buffer) => Promise<void>, opts: CopyOptions): Promise<void> {
    const token = randomBytes(24).toString('hex');
    const guest = this.start(vm, [sourcePath, token, LISTENER], DOWNLOAD_SCRIPT, opts);
    const port = await guest.port;
    if (port === undefined) throw failure(await guest.done, sourcePath);
    const socket = await this.connect(vm, port, token, opts, guest);
    let sinkError: Error | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        // The socket keeps reading while a batch is sent; what arrived meanwhile goes out as one
        // message (at most about BATCH_BYTES), not one per 64 KiB read.
        const held: Buffer[] = [];
        let heldBytes = 0;
        let sending = false;
        let ended = false;
        const pump = async (): Promise<void> => {
          if (sending) return;
          sending = true;
          try {
            while (heldBytes > 0) {
              const batch = Buffer.concat(held.splice(0), heldBytes);
              heldBytes = 0;
              socket.resume();
              await sink(batch);
            }
            if (ended) resolve();
          } catch (err) {
            reject(asError(err));
          } finally {
            sending = false;
          }
        };
        socket.on('data', (chunk: Buffer) => {
          held.push(chunk);
          heldBytes += chunk.length;
          if (heldBytes >= BATCH_BYTES) socket.pause();
          void pump();
        });
        socket.once('end', () => {
          ended = true;
          void pump();
        });
        socket.once('error', reject);
        opts.signal.addEventListener('abort', () => reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('cancelled')), { once: true });
      });
    } catch (err) {
      sinkError = asError(err);
    } finally {
      socket.destroy();
    }
    const end = await guest.done;
    if (sinkError !== undefined) throw sinkError;
    if (end.exitCode !== 0 || end.signal || end.timedOut) throw failure(end, sourcePath);
  }

  /** Starts a copy script through the guest agent; its first stdout line is the port. */
  private start(vm: FileCopyVm, args: string[], script: string, opts: CopyOptions): GuestSide {
    let stdout = '';
    let stderr = '';
    let announce: (port: number | undefined) => void = () => undefined;
    const port = new Promise<number | undefined>((resolve) => (announce = resolve));
    const onChunk = async (c: GuestOutputChunk): Promise<void> => {
      if (c.stream === 'stderr') {
        if (stderr.length < MAX_STDERR) stderr += c.data.toString('utf8').slice(0, MAX_STDERR - stderr.length);
        return;
      }
      stdout += c.data.toString('utf8');
      const nl = stdout.indexOf('\n');
      if (nl > 0) {
        const n = Number(stdout.slice(0, nl));
        if (Number.isInteger(n) && n > 0 && n < 65536) announce(n);
      }
      if (stdout.length > 64 * 1024) stdout = stdout.slice(0, 64 * 1024);
    };
    // No abort signal: a killed script could not remove its temporary directory. Cancelling
    // resets the connection instead, and the script cleans up and ends by itself.
    const done = this.deps.agent.execStream(vm.agentSocket, ['/bin/sh', '-c', script, 'banger-cp', ...args], onChunk, { timeoutMs: opts.timeoutMs, shareAgent: true, maxPollMs: COPY_POLL_MS }).then((r) => {
      announce(undefined);
      return { exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, lines: stdout.split('\n').slice(1).filter((l) => l !== ''), stderr: stderr.trim() };
    });
    done.catch(() => announce(undefined));
    return { port, done };
  }

  private async connect(vm: FileCopyVm, port: number, token: string, opts: CopyOptions, guest: GuestSide): Promise<Socket> {
    // Right after boot (a create's sync files) the guest's network may lag its agent by a moment.
    const deadline = Date.now() + CONNECT_RETRY_MS;
    for (;;) {
      try {
        const socket = await this.deps.connector.connect(vm.id, port, { opId: opts.opId, timeoutMs: 10_000 });
        socket.setNoDelay(true);
        socket.write(token);
        return socket;
      } catch (err) {
        if (Date.now() < deadline && !opts.signal.aborted) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        // The script still waits for its connection; it gives up after 60 s and cleans up.
        await Promise.race([guest.done.catch(() => undefined), new Promise((r) => setTimeout(r, 100))]);
        throw err;
      }
    }
  }
}

/**
 * Ends the connection with an RST, never a FIN: tar must see an error, not a clean end of a cut
 * archive. Node turns a reset with writes still queued into an orderly close, so the queue is
 * flushed first (measured: a reset right after a write arrives as a FIN).
 */
async function resetConnection(socket: Socket): Promise<void> {
  if (!socket.destroyed && socket.writable) {
    await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.resetAndDestroy();
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.once('drain', () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** Half-closes and waits for the guest to close its side (tar read everything). */
function endAndClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
    socket.resume();
    socket.end();
  });
}

/** The typed error for how a guest copy script ended. */
function failure(end: { exitCode: number; signal: string; timedOut: boolean; stderr: string }, path: string): BangerError {
  const said = end.stderr.replace(/^banger-cp: /gm, '') || `the guest copy ended with status ${end.exitCode}${end.signal ? ` (${end.signal})` : ''}`;
  const fields = { path };
  if (end.timedOut) return new DeadlineExceededError('COPY_TIMEOUT', `copying ${path} took too long`, { fields });
  // GNU tar reports a short write on a full disk as "Wrote only N of M bytes" (no errno).
  if (/No space left on device|Disk quota exceeded|Wrote only \d+ of \d+ bytes/i.test(said)) return new ResourceExhaustedError('GUEST_NO_SPACE', `no space left in the guest for ${path}: ${said}`, { fields });
  switch (end.exitCode) {
    case COPY_EXIT.notFound:
      return new BangerError('NOT_FOUND', 'GUEST_PATH_NOT_FOUND', said, { fields });
    case COPY_EXIT.notADirectory:
      return new FailedPreconditionError('GUEST_NOT_A_DIRECTORY', said, { fields });
    case COPY_EXIT.isADirectory:
      return new FailedPreconditionError('GUEST_IS_A_DIRECTORY', said, { fields });
    case COPY_EXIT.emptyArchive:
      return new InvalidArgumentError('archive', said, 'TAR_EMPTY', { fields });
    default:
      return new FailedPreconditionError('GUEST_COPY_FAILED', `copying ${path} failed in the guest: ${said}`, { fields });
  }
}
