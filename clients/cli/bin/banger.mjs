#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, like every banger process.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
