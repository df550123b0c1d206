#!/usr/bin/env node
// Launcher: runs the TypeScript entry point through tsx's loader in this same process,
// so the PID systemd (or a test) holds is the daemon itself.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
