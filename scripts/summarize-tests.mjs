// Prints the closing line CI reads: "N passed, N failed, N skipped", from vitest's JSON
// report plus the static checks run before it. Exits non-zero when anything failed or when
// no test ran at all (a suite that silently ran nothing must not look green).
import { readFileSync } from 'node:fs';

const [file, checkPass = '0', checkFail = '0'] = process.argv.slice(2);
let passed = Number(checkPass);
let failed = Number(checkFail);
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const suite of report.testResults ?? []) {
    if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed += 1;
  }
} catch (err) {
  console.error(`no vitest report at ${file}: ${err.message}`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
