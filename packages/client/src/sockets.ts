import { clientSockets, SYSTEM_RUN_DIR } from '@banger/config';

/** Where a system install's daemons listen (`[paths] run_dir`, as `banger system install` sets it up). */
export const DEFAULT_RUN_DIR = SYSTEM_RUN_DIR;

export interface SocketOptions {
  /** The daemons' run directory (default BANGER_RUN_DIR, else what the config file says, as the CLI). */
  runDir?: string;
  /** vmd's socket (default BANGER_VMD_SOCKET, else RUN_DIR/vmd.sock). */
  vmdSocket?: string;
  /** imaged's socket (default BANGER_IMAGED_SOCKET, else RUN_DIR/imaged.sock). */
  imagedSocket?: string;
  /** Where the BANGER_* defaults are read from (default process.env). */
  env?: Record<string, string | undefined>;
}

/**
 * The socket paths a client uses, found as the CLI finds them: explicit options, then
 * BANGER_*_SOCKET and BANGER_RUN_DIR, then the config file the daemons read
 * (BANGER_CONFIG, ~/.config/banger/config.toml, /etc/banger/config.toml), then the install
 * layout.
 */
export function resolveSockets(options: SocketOptions = {}): { vmd: string; imaged: string } {
  const env = options.env ?? process.env;
  const found = options.runDir ? undefined : clientSockets(env);
  const inRunDir = (file: string, fallback: string | undefined): string => (options.runDir ? `${options.runDir}/${file}` : (fallback ?? ''));
  return {
    vmd: options.vmdSocket || env['BANGER_VMD_SOCKET'] || inRunDir('vmd.sock', found?.vmd),
    imaged: options.imagedSocket || env['BANGER_IMAGED_SOCKET'] || inRunDir('imaged.sock', found?.imaged),
  };
}
