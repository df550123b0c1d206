import path from 'node:path';

/**
 * Per-VM run directory: everything a live VM needs lives in `<runVmsDir>/<vmId>/`, so a
 * restarted helper can find a VM from its id alone and removal is one directory.
 *
 *   qmp.sock     QMP control socket (QEMU is the server)
 *   agent.sock   guest agent (virtio-serial port org.qemu.guest_agent.0), QEMU is the server
 *   console.log  the guest's serial console (ttyS0)
 *   qemu.pid     pid file written by QEMU itself (-pidfile)
 *   qemu.log     QEMU's own stderr from launch (errors before it daemonized)
 *   launch.json  the validated spec + accel + argv used, for describe/rediscovery
 */
export interface VmRunPaths {
  readonly dir: string;
  readonly qmpSocket: string;
  readonly agentSocket: string;
  readonly consoleLog: string;
  readonly pidFile: string;
  readonly qemuLog: string;
  readonly launchJson: string;
}

/** sun_path is 108 bytes including the NUL; longer socket paths fail at bind time. */
export const MAX_UNIX_SOCKET_PATH = 107;

export function vmRunPaths(runVmsDir: string, vmId: string): VmRunPaths {
  const dir = path.join(runVmsDir, vmId);
  return {
    dir,
    qmpSocket: path.join(dir, 'qmp.sock'),
    agentSocket: path.join(dir, 'agent.sock'),
    consoleLog: path.join(dir, 'console.log'),
    pidFile: path.join(dir, 'qemu.pid'),
    qemuLog: path.join(dir, 'qemu.log'),
    launchJson: path.join(dir, 'launch.json'),
  };
}
