import path from 'node:path';

/**
 * Per-VM run directory: everything a live VM needs lives in `<runVmsDir>/<vmId>/`, so a
 * restarted helper can find a VM from its id alone and removal is one directory.
 *
 *   qmp.sock       QMP control socket (made by the jailer, served by QEMU through its fd)
 *   agent.sock     guest agent (virtio-serial port org.qemu.guest_agent.0), likewise
 *   console.log    the guest's serial console (ttyS0), written by the jailer's supervisor,
 *                  rotated at a size cap to console.log.1
 *   qemu.pid       QEMU's pid, written by the jailer once QEMU was executed
 *   exit.json      how QEMU ended, written by the jailer's supervisor
 *   qemu.log       QEMU's own stderr
 *   launch.json    the validated spec + accel + argv + jail used, for describe/rediscovery
 */
export interface VmRunPaths {
  readonly dir: string;
  readonly qmpSocket: string;
  readonly agentSocket: string;
  readonly consoleLog: string;
  readonly pidFile: string;
  readonly qemuLog: string;
  readonly launchJson: string;
  readonly exitJson: string;
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
    exitJson: path.join(dir, 'exit.json'),
  };
}
