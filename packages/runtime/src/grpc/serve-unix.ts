import { chmod, chown, lstat, mkdir, mkdtemp, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { peerCredAvailable, peerCredOf } from '@banger/sys';
import type { Logger } from 'pino';
import { FailedPreconditionError, UnavailableError } from '../errors.js';
import { formatPeerAddress } from './peer.js';

export interface ServeUnixOptions {
  socketPath: string;
  /** File mode of the socket, e.g. 0o660. Applied before the socket becomes reachable. */
  mode: number;
  owner?: { uid: number; gid: number };
  /**
   * Directory to bind in before the rename, default the socket's own directory. privhelper
   * names a directory only root can write: its socket lives in the shared (sticky) run
   * directory, where the private bind directory must not be something another uid can touch.
   */
  stagingDir?: string;
  logger?: Logger;
}

export interface UnixListener {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Is a daemon answering on this path, or is the file a leftover from a crashed one? */
function probeLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function clearStale(path: string, logger: Logger | undefined): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return;
  if (!st.isSocket()) {
    throw new FailedPreconditionError('SOCKET_PATH_OCCUPIED', `${path} exists and is not a socket; refusing to replace it`, { fields: { path } });
  }
  if (await probeLive(path)) {
    throw new UnavailableError('ADDRESS_IN_USE', `another process is already serving on ${path}`, { fields: { path } });
  }
  logger?.info({ socket: path }, 'removing stale socket');
}

function listen(server: NetServer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listens with any net.Server on a Unix socket. The socket is bound inside a private 0700
 * directory, given its mode and owner there, and only then renamed into place, so there is
 * no moment at which anyone else can connect to it. A live socket already at the path is
 * refused; a stale one is replaced.
 */
export async function bindUnix(netServer: NetServer, options: ServeUnixOptions): Promise<UnixListener> {
  const { socketPath, logger } = options;
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await clearStale(socketPath, logger);
  const privateDir = await mkdtemp(join(options.stagingDir ?? dirname(socketPath), `.${basename(socketPath)}.`));
  const tmpPath = join(privateDir, 'sock');
  try {
    await listen(netServer, tmpPath);
    await chmod(tmpPath, options.mode);
    if (options.owner) await chown(tmpPath, options.owner.uid, options.owner.gid);
    await rename(tmpPath, socketPath);
  } catch (err) {
    netServer.close();
    await unlink(tmpPath).catch(() => undefined);
    throw err;
  } finally {
    await rmdir(privateDir).catch(() => undefined);
  }
  const { ino } = await stat(socketPath);
  logger?.info({ socket: socketPath, mode: options.mode.toString(8) }, 'listening');

  return {
    socketPath,
    async close() {
      // Stop accepting; connections already accepted are the server owner's to drain.
      netServer.close();
      // Unlink only our own socket: a successor may already have replaced it.
      const current = await stat(socketPath).catch(() => undefined);
      if (current?.ino === ino) await unlink(socketPath).catch(() => undefined);
    },
  };
}

/**
 * Serves a grpc-js server on a Unix socket (bound as bindUnix does). Each connection is
 * stamped with the kernel's peer credentials before grpc-js sees it.
 */
export async function serveUnix(server: grpc.Server, options: ServeUnixOptions): Promise<UnixListener> {
  const { logger } = options;
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const withCreds = peerCredAvailable();
  if (!withCreds) logger?.warn('peer credentials unavailable (native addon not built); callers are not identified');
  const netServer = createServer((socket: Socket) => {
    if (withCreds) {
      try {
        Object.defineProperty(socket, 'remoteAddress', { value: formatPeerAddress(peerCredOf(socket)), configurable: true });
      } catch (err) {
        logger?.warn({ err }, 'could not read peer credentials');
      }
    }
    injector.injectConnection(socket);
  });
  return bindUnix(netServer, options);
}
