// Generates the references from their sources: docs/config.md from packages/config (what
// buildConfig reads) and docs/api.md from proto/ (the descriptor set buf builds).
//   npx tsx scripts/gen-docs.ts           rewrite both
//   npx tsx scripts/gen-docs.ts --check   fail (exit 1) when either is stale (scripts/generate.sh --check, CI)
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiReference } from '@banger/api';
import { configReference } from '@banger/config';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS: [string, () => string][] = [
  ['docs/config.md', configReference],
  ['docs/api.md', () => apiReference()],
];

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, generate] of DOCS) {
  const text = generate();
  const path = join(ROOT, file);
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old === text) continue;
  if (check) {
    console.error(`${file} is stale: run npx tsx scripts/gen-docs.ts and commit the result`);
    stale++;
  } else {
    await writeFile(path, text);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
