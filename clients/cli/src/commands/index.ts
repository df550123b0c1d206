import type { CommandSpec } from '../command.js';
import { completeCommand, completionCommand } from './completion.js';
import { doctorCommand } from './doctor.js';
import { helpCommand } from './help.js';
import { imageBuildCommand } from './image-build.js';
import { imageWarmCommand } from './image-warm.js';
import { imageListCommand } from './image-list.js';
import { imagePromoteCommand } from './image-promote.js';
import { imagePruneCommand } from './image-prune.js';
import { imageRecipesCommand } from './image-recipes.js';
import { imageRmCommand } from './image-rm.js';
import { imageShowCommand } from './image-show.js';
import { kernelListCommand } from './kernel-list.js';
import { kernelPullCommand } from './kernel-pull.js';
import { kernelRmCommand } from './kernel-rm.js';
import { kernelShowCommand } from './kernel-show.js';
import { mcpCommand } from './mcp.js';
import { opsCancelCommand } from './ops-cancel.js';
import { opsListCommand } from './ops-list.js';
import { opsShowCommand } from './ops-show.js';
import { opsWatchCommand } from './ops-watch.js';
import { sshConfigCommand } from './ssh-config.js';
import { systemDnsCommand } from './system-dns.js';
import { systemGcCommand } from './system-gc.js';
import { systemInstallCommand } from './system-install.js';
import { systemStatusCommand } from './system-status.js';
import { systemUninstallCommand } from './system-uninstall.js';
import { systemUpgradeCommand } from './system-upgrade.js';
import { versionCommand } from './version.js';
import { vmConsoleCommand } from './vm-console.js';
import { vmCpCommand } from './vm-cp.js';
import { vmRunCommand } from './vm-run.js';
import { vmCreateCommand } from './vm-create.js';
import { vmDeleteCommand } from './vm-delete.js';
import { vmExecCommand } from './vm-exec.js';
import { vmKillCommand } from './vm-kill.js';
import { vmPauseCommand } from './vm-pause.js';
import { vmResumeCommand } from './vm-resume.js';
import { vmSuspendCommand } from './vm-suspend.js';
import { vmSnapshotCommand } from './vm-snapshot.js';
import { vmForkCommand } from './vm-fork.js';
import { snapshotListCommand } from './snapshot-list.js';
import { snapshotShowCommand } from './snapshot-show.js';
import { snapshotRmCommand } from './snapshot-rm.js';
import { snapshotPruneCommand } from './snapshot-prune.js';
import { vmListCommand } from './vm-list.js';
import { vmPortsCommand } from './vm-ports.js';
import { vmForwardCommand, vmUnforwardCommand } from './vm-forward.js';
import { vmTunnelCommand } from './vm-tunnel.js';
import { vmPromoteCommand } from './vm-promote.js';
import { vmPruneCommand } from './vm-prune.js';
import { vmResizeCommand } from './vm-resize.js';
import { vmEgressCommand } from './vm-egress.js';
import { vmRestartCommand } from './vm-restart.js';
import { vmShowCommand } from './vm-show.js';
import { vmSshCommand } from './vm-ssh.js';
import { vmStartCommand } from './vm-start.js';
import { vmStatsCommand } from './vm-stats.js';
import { vmStopCommand } from './vm-stop.js';
import { vmTouchCommand } from './vm-touch.js';
import { vmWatchCommand } from './vm-watch.js';

/** Every command, in the order `banger help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  vmCreateCommand,
  vmListCommand,
  vmShowCommand,
  vmWatchCommand,
  vmStartCommand,
  vmStopCommand,
  vmRestartCommand,
  vmKillCommand,
  vmPauseCommand,
  vmResumeCommand,
  vmSuspendCommand,
  vmSnapshotCommand,
  vmForkCommand,
  vmDeleteCommand,
  vmPruneCommand,
  vmExecCommand,
  vmSshCommand,
  vmCpCommand,
  vmRunCommand,
  vmPortsCommand,
  vmForwardCommand,
  vmUnforwardCommand,
  vmTunnelCommand,
  vmStatsCommand,
  vmConsoleCommand,
  vmResizeCommand,
  vmEgressCommand,
  vmTouchCommand,
  vmPromoteCommand,
  sshConfigCommand,
  snapshotListCommand,
  snapshotShowCommand,
  snapshotRmCommand,
  snapshotPruneCommand,
  opsListCommand,
  opsShowCommand,
  opsWatchCommand,
  opsCancelCommand,
  imageBuildCommand,
  imageWarmCommand,
  imageListCommand,
  imageShowCommand,
  imageRmCommand,
  imagePruneCommand,
  imagePromoteCommand,
  imageRecipesCommand,
  kernelListCommand,
  kernelPullCommand,
  kernelShowCommand,
  kernelRmCommand,
  mcpCommand,
  doctorCommand,
  systemInstallCommand,
  systemUninstallCommand,
  systemUpgradeCommand,
  systemStatusCommand,
  systemGcCommand,
  systemDnsCommand,
  versionCommand,
  completionCommand,
  completeCommand,
  helpCommand,
];

export { GROUPS } from './groups.js';
