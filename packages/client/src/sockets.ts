/** Where the daemons listen unless told otherwise (`[paths] run_dir`, as `banger system install` sets it up). */
export const DEFAULT_RUN_DIR = '/run/banger';

export interface SocketOptions {
  /** The daemons' run directory (default BANGER_RUN_DIR, else /run/banger). */
  runDir?: string;
  /** vmd's socket (default BANGER_VMD_SOCKET, else RUN_DIR/vmd.sock). */
  vmdSocket?: string;
  /** imaged's socket (default BANGER_IMAGED_SOCKET, else RUN_DIR/imaged.sock). */
  imagedSocket?: string;
  /** Where the BANGER_* defaults are read from (default process.env). */
  env?: Record<string, string | undefined>;
}

/** The socket paths a client uses: explicit options, then the CLI's environment variables, then the install layout. */
export function resolveSockets(options: SocketOptions = {}): { vmd: string; imaged: string } {
  const env = options.env ?? process.env;
  const runDir = options.runDir || env['BANGER_RUN_DIR'] || DEFAULT_RUN_DIR;
  return {
    vmd: options.vmdSocket || env['BANGER_VMD_SOCKET'] || `${runDir}/vmd.sock`,
    imaged: options.imagedSocket || env['BANGER_IMAGED_SOCKET'] || `${runDir}/imaged.sock`,
  };
}
