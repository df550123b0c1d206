/** One-line descriptions of the command groups. */
export const GROUPS: Readonly<Record<string, string>> = {
  vm: 'Create, run and manage microVMs (vmd).',
  snapshot: 'List and delete named VM snapshots (vmd).',
  ops: 'Inspect, follow and cancel long-running operations (vmd and imaged).',
  image: 'Build and manage guest images (imaged).',
  kernel: 'Pull and manage guest kernels (imaged).',
  system: 'Install, remove and inspect banger as a system service (systemd units, banger user).',
};
