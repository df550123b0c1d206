import type { CommandSpec } from '../command.js';
import type { DaemonName } from '../daemon-services.js';

/**
 * What the dispatcher knows about a command before loading it: enough to walk the command
 * tree and list it in help. The module itself (its flags, its daemon clients, their generated
 * code) is imported only when the command runs or its own help is asked for, so `banger
 * version` does not compile every service's code (docs/build.md, "CLI start-up").
 */
export interface CommandEntry {
  path: readonly string[];
  summary: string;
  hidden?: boolean;
  /**
   * The daemons whose full clients (`ctx.vmd()`, `ctx.imaged()`, `ctx.helper()`) the command
   * uses; their service code is loaded before it runs. Unset: all three.
   */
  daemons?: readonly DaemonName[];
  load(): Promise<CommandSpec>;
}

function lazy(path: string, summary: string, load: () => Promise<CommandSpec>, extra: { hidden?: boolean; daemons?: readonly DaemonName[] } = {}): CommandEntry {
  return { path: path.split(' '), summary, load, ...extra };
}

/**
 * Every command, in the order `banger help` lists them; mirrors COMMANDS in ./index.ts (a unit
 * test checks both agree). A command missing here still runs, loaded with all the others.
 */
export const COMMAND_ENTRIES: readonly CommandEntry[] = [
  lazy('vm create', 'Create a VM and follow its stages live', async () => (await import('./vm-create.js')).vmCreateCommand),
  lazy('vm list', 'List VMs', async () => (await import('./vm-list.js')).vmListCommand, { daemons: ['vmd'] }),
  lazy('vm show', 'Show one VM in detail', async () => (await import('./vm-show.js')).vmShowCommand, { daemons: ['vmd'] }),
  lazy('vm watch', 'Re-attach to a VM operation: replay its events and follow it to the end', async () => (await import('./vm-watch.js')).vmWatchCommand),
  lazy('vm start', 'Start a stopped VM and follow its stages live', async () => (await import('./vm-start.js')).vmStartCommand),
  lazy('vm stop', 'Stop a VM gracefully, killing it after a timeout', async () => (await import('./vm-stop.js')).vmStopCommand),
  lazy('vm restart', 'Stop and start a VM, following its stages live', async () => (await import('./vm-restart.js')).vmRestartCommand),
  lazy('vm kill', "Terminate a VM's hypervisor process immediately", async () => (await import('./vm-kill.js')).vmKillCommand),
  lazy('vm pause', "Pause a running VM's vCPUs in memory (banger vm resume runs it again)", async () => (await import('./vm-pause.js')).vmPauseCommand),
  lazy('vm resume', 'Run a paused VM again, or restore a suspended one from disk, following its stages', async () => (await import('./vm-resume.js')).vmResumeCommand),
  lazy('vm suspend', "Save a VM's state and RAM to disk and free its memory (banger vm resume restores it)", async () => (await import('./vm-suspend.js')).vmSuspendCommand),
  lazy('vm snapshot', 'Take a named snapshot of a running VM (state, RAM and disks); the VM keeps running', async () => (await import('./vm-snapshot.js')).vmSnapshotCommand),
  lazy('vm fork', 'Snapshot a running VM and start clones of it (it keeps running)', async () => (await import('./vm-fork.js')).vmForkCommand),
  lazy('vm delete', 'Delete a VM and every host resource it uses (stopping it first)', async () => (await import('./vm-delete.js')).vmDeleteCommand),
  lazy('vm prune', 'Delete stopped VMs older than an age', async () => (await import('./vm-prune.js')).vmPruneCommand),
  lazy('vm exec', "Run a command in a VM through the guest agent and exit with the command's exit code", async () => (await import('./vm-exec.js')).vmExecCommand),
  lazy('vm ssh', 'Open an ssh session to a VM', async () => (await import('./vm-ssh.js')).vmSshCommand),
  lazy('vm cp', 'Copy files or directory trees between the host and a VM (NAME:PATH on one side)', async () => (await import('./vm-cp.js')).vmCpCommand),
  lazy('vm run', 'Create a VM, copy PATH into /work, run a command there with live output, and exit with its status', async () => (await import('./vm-run.js')).vmRunCommand),
  lazy('vm ports', 'List the TCP/UDP sockets listening in a VM and how to reach them', async () => (await import('./vm-ports.js')).vmPortsCommand),
  lazy('vm forward', 'Forward a host loopback port to a guest port, or switch automatic forwarding', async () => (await import('./vm-forward.js')).vmForwardCommand),
  lazy('vm unforward', 'Stop and forget a port forward', async () => (await import('./vm-forward.js')).vmUnforwardCommand),
  lazy('vm tunnel', "Relay stdin and stdout to a TCP port of a VM's guest (ssh's ProxyCommand)", async () => (await import('./vm-tunnel.js')).vmTunnelCommand),
  lazy('vm stats', "Show a VM process's CPU and memory use with recent history", async () => (await import('./vm-stats.js')).vmStatsCommand),
  lazy('vm console', "Print a VM's serial console log, optionally following it", async () => (await import('./vm-console.js')).vmConsoleCommand),
  lazy('vm resize', "Grow a stopped VM's work disk", async () => (await import('./vm-resize.js')).vmResizeCommand),
  lazy('vm egress', 'Show or change what a VM may reach on the network', async () => (await import('./vm-egress.js')).vmEgressCommand),
  lazy('vm touch', 'Mark a VM as used now (protects it from age-based pruning)', async () => (await import('./vm-touch.js')).vmTouchCommand),
  lazy('vm promote', "Turn a stopped VM's root disk into a new managed image", async () => (await import('./vm-promote.js')).vmPromoteCommand),
  lazy('ssh-config', 'Print (or install) ~/.ssh/config blocks for every VM', async () => (await import('./ssh-config.js')).sshConfigCommand),
  lazy('snapshot list', 'List snapshots, newest first', async () => (await import('./snapshot-list.js')).snapshotListCommand),
  lazy('snapshot show', 'Show one snapshot in detail', async () => (await import('./snapshot-show.js')).snapshotShowCommand),
  lazy('snapshot rm', 'Delete a snapshot no VM was created from', async () => (await import('./snapshot-rm.js')).snapshotRmCommand),
  lazy('snapshot prune', 'Delete snapshots no VM was created from (and ones a crash left unfinished)', async () => (await import('./snapshot-prune.js')).snapshotPruneCommand),
  lazy('ops list', 'List operations (VM creates, image builds, kernel pulls...) newest first', async () => (await import('./ops-list.js')).opsListCommand),
  lazy('ops show', "Show an operation's record and its stored events", async () => (await import('./ops-show.js')).opsShowCommand),
  lazy('ops watch', 'Re-attach to any operation (VM, image or kernel) and follow it to the end', async () => (await import('./ops-watch.js')).opsWatchCommand),
  lazy('ops cancel', 'Cancel a running operation (its stream ends with a CANCELLED failure after rollback)', async () => (await import('./ops-cancel.js')).opsCancelCommand),
  lazy('image build', 'Build an image from an allow-listed recipe, following its stages live', async () => (await import('./image-build.js')).imageBuildCommand),
  lazy('image warm', 'Make the warm snapshot a default vm create of this image and shape restores from', async () => (await import('./image-warm.js')).imageWarmCommand),
  lazy('image list', 'List managed images', async () => (await import('./image-list.js')).imageListCommand),
  lazy('image show', 'Show one image in detail', async () => (await import('./image-show.js')).imageShowCommand),
  lazy('image rm', 'Delete an image no VM uses', async () => (await import('./image-rm.js')).imageRmCommand),
  lazy('image prune', 'Delete unused images, optionally only those older than an age', async () => (await import('./image-prune.js')).imagePruneCommand),
  lazy('image promote', "Create an image from a stopped VM's root disk (same as 'banger vm promote')", async () => (await import('./image-promote.js')).imagePromoteCommand),
  lazy('image recipes', "List the recipes 'banger image build' accepts", async () => (await import('./image-recipes.js')).imageRecipesCommand),
  lazy('kernel list', 'List installed kernels (and catalog kernels with --available)', async () => (await import('./kernel-list.js')).kernelListCommand),
  lazy('kernel pull', 'Fetch, verify and install a catalog kernel with its initramfs, following its stages live', async () => (await import('./kernel-pull.js')).kernelPullCommand),
  lazy('kernel show', 'Show one kernel in detail', async () => (await import('./kernel-show.js')).kernelShowCommand),
  lazy('kernel rm', 'Delete an installed kernel no image uses', async () => (await import('./kernel-rm.js')).kernelRmCommand),
  lazy('mcp', 'Serve banger to an AI agent over MCP (Model Context Protocol) on stdin/stdout', async () => (await import('./mcp.js')).mcpCommand),
  lazy('doctor', 'Check the host and the daemons, with the command that fixes each problem', async () => (await import('./doctor.js')).doctorCommand),
  lazy('system install', 'Install banger as a system service: banger user, config, systemd units, directories', async () => (await import('./system-install.js')).systemInstallCommand),
  lazy('system uninstall', 'Stop and remove the systemd units (state, config and the banger user stay unless --purge)', async () => (await import('./system-uninstall.js')).systemUninstallCommand),
  lazy('system upgrade', "Convert an older banger layout to today's (root-owned privhelper roots), with the daemons and VMs stopped", async () => (await import('./system-upgrade.js')).systemUpgradeCommand),
  lazy('system status', 'Show the installed units, the sockets and their modes, and the banger user and group', async () => (await import('./system-status.js')).systemStatusCommand),
  lazy('system gc', 'Clean up what failed operations left behind and orphans nobody owns (what the janitor runs)', async () => (await import('./system-gc.js')).systemGcCommand),
  lazy('system dns', 'Resolve NAME.vm on the host through systemd-resolved (per-link DNS and ~vm on the bridge)', async () => (await import('./system-dns.js')).systemDnsCommand),
  lazy('version', "Show the client version and each daemon's version, API version, pid and uptime", async () => (await import('./version.js')).versionCommand, { daemons: [] }),
  lazy('completion', 'Print a shell completion script (bash, zsh or fish)', async () => (await import('./completion.js')).completionCommand, { daemons: [] }),
  lazy('__complete', 'List names for shell completion', async () => (await import('./completion.js')).completeCommand, { hidden: true, daemons: ['vmd'] }),
  lazy('help', 'Show help for banger or for a command', async () => (await import('./help.js')).helpCommand, { daemons: [] }),
];
