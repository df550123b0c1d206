#!/usr/bin/env node
// Launcher: runs the compiled privhelper (`npm run build`, scripts/build.mjs) in this same process,
// so the PID systemd (or a test) holds is the daemon itself. No TypeScript is compiled at run time
// and tsx is never loaded: its disk cache in a shared /tmp would let another uid plant code
// (integration/security/tsx-cache.test.ts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/privhelper.mjs', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(`banger: ${fileURLToPath(entry)} is missing: run \`npm run build\` in the checkout first\n`);
  process.exit(1);
}
await import(entry.href);
