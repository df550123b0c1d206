#!/usr/bin/env node
// Launcher for gated-vmd.ts, like services/vmd/bin/vmd.mjs: the PID a test holds is vmd itself.
import { register } from 'tsx/esm/api';

register();
await import('./gated-vmd.ts');
