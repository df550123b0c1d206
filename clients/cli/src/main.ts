import { run } from './cli.js';
import { EXIT } from './exit-codes.js';

// The first Ctrl-C is delivered to the running command (streams detach, loops end, other
// calls are abandoned); a second one ends the process at once.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT.INTERRUPTED);
  interrupt.abort();
});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  interrupt: interrupt.signal,
  stdin: process.stdin,
});
// An abandoned call may still hold the event loop open; do not wait for it.
if (code === EXIT.INTERRUPTED) process.exit(code);
process.exitCode = code;
