#!/usr/bin/env node
// Launcher for console-follower.ts: the PID the test measures runs vmd's console code itself.
import { register } from 'tsx/esm/api';

register();
await import('./console-follower.ts');
