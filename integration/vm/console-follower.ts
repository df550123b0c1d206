/**
 * vmd's console follower (StreamVmConsole over FileConsoleLogs, the code `vm console -f` runs
 * in vmd) in a process of its own, so a test can measure its memory while a real guest floods
 * the log. Prints one JSON line when following, one per 1000 flood lines, one at the end.
 */
import { readFileSync } from 'node:fs';
import { FileConsoleLogs } from '../../services/vmd/src/adapters/console-logs.js';
import { StreamVmConsole } from '../../services/vmd/src/app/console.js';
import { sampleVm } from '../../services/vmd/src/testing/sample-vm.js';

const [path = '', doneMarker = ''] = process.argv.slice(2);
const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
const emit = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const vm = sampleVm({ files: { ...sampleVm().files, consoleLog: path } });
const uc = new StreamVmConsole({ vms: { findByRef: async () => vm }, consoleLogs: new FileConsoleLogs() });
const ac = new AbortController();
let flood = 0;
let first = -1;
let last = -1;
let peak = 0;
emit({ following: true, rss: rss() });
await uc.run({ ref: vm.name, tailLines: 0, follow: true, signal: ac.signal }, async (lines) => {
  for (const l of lines) {
    if (l.startsWith('FLOOD ')) {
      flood += 1;
      const n = Number(l.slice(6, 14));
      if (first < 0) first = n;
      last = n;
      if (flood % 1000 === 0) emit({ flood, rss: rss() });
    }
    if (l.includes(doneMarker)) ac.abort();
  }
  peak = Math.max(peak, rss());
});
emit({ done: true, flood, first, last, rss: rss(), peak });
