// The attacker half of the tree race tests, run as an unprivileged uid. Commands on stdin:
//   go <A> <B> <target>   swap the names A and B (renameat2 RENAME_EXCHANGE) in a tight loop;
//                         when one is missing, put a symlink to <target> there (20 times at
//                         most per go, so the victim walk can finish). Answers "armed", then
//                         "swapping" after the first successful swap.
//   stop                  answers "stopped <swaps> <symlinks made>".
// argv[2]: path of the banger_sys addon (its renameat2 is the fastest exchange at hand).
import { symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { setImmediate, setTimeout } from 'node:timers';

const sys = createRequire(import.meta.url)(process.argv[2]);
const { AT_FDCWD, RENAME_EXCHANGE } = sys.constants;
const RECREATE_BUDGET = 20;

let job;

function step() {
  try {
    sys.renameat2(AT_FDCWD, job.a, AT_FDCWD, job.b, RENAME_EXCHANGE);
    job.swaps++;
    if (!job.reported) {
      job.reported = true;
      process.stdout.write('swapping\n');
    }
  } catch (err) {
    if (err.code !== 'ENOENT' || job.made >= RECREATE_BUDGET) return;
    for (const p of [job.a, job.b]) {
      try {
        symlinkSync(job.target, p);
        job.made++;
      } catch {
        // exists, or the tree is gone
      }
    }
  }
}

function burst() {
  if (job === undefined) {
    setTimeout(burst, 1);
    return;
  }
  // Short bursts, so a "stop" is read within about a millisecond.
  const end = Date.now() + 1;
  while (job !== undefined && Date.now() <= end) for (let i = 0; i < 50; i++) step();
  setImmediate(burst);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, a, b, target] = line.split(' ');
  if (cmd === 'go') {
    job = { a, b, target, swaps: 0, made: 0, reported: false };
    process.stdout.write('armed\n');
  } else if (cmd === 'stop') {
    const j = job;
    job = undefined;
    process.stdout.write(`stopped ${j?.swaps ?? 0} ${j?.made ?? 0}\n`);
  }
});
process.stdin.on('end', () => process.exit(0));
burst();
