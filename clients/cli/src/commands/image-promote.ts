import type { CommandSpec } from '../command.js';
import { promoteVm } from './vm-promote.js';

export const imagePromoteCommand: CommandSpec = {
  path: ['image', 'promote'],
  summary: "Create an image from a stopped VM's root disk (same as 'banger vm promote')",
  usage: 'VM --name IMAGE',
  description: 'Goes through vmd (PromoteVm), which holds the VM lock so it cannot start meanwhile.',
  args: { min: 1, max: 1, names: 'VM' },
  options: { name: { type: 'string', value: 'IMAGE', description: 'name of the new image' } },
  run: promoteVm,
};
