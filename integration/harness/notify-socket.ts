import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A NOTIFY_SOCKET the test itself listens on: an AF_UNIX datagram socket (a path, or an
 * abstract name starting with '@') bound by python3, since Node has no datagram Unix sockets.
 * Every datagram a daemon sends arrives in `messages`, in order.
 */
export interface NotifyListener {
  address: string;
  messages: string[];
  /** The first message matching `pred`, waiting up to `timeoutMs`. */
  waitFor(pred: (m: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): void;
}

export async function listenNotify(address: string): Promise<NotifyListener> {
  const code = [
    'import os,socket,sys',
    'a=sys.argv[1]',
    's=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)',
    "s.bind('\\0'+a[1:] if a.startswith('@') else a)",
    "a.startswith('@') or os.chmod(a,0o666)",
    "print('ready',flush=True)",
    'while True: print(s.recv(65536).hex(),flush=True)',
  ].join('\n');
  const child: ChildProcess = spawn('/usr/bin/python3', ['-c', code, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`notify listener exited with ${c}`)));
    lines.once('line', (l) => (l === 'ready' ? resolve() : reject(new Error(`notify listener said ${l}`))));
  });
  lines.on('line', (l) => messages.push(Buffer.from(l, 'hex').toString()));
  return {
    address,
    messages,
    async waitFor(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = messages.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`no matching notification within ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close() {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    },
  };
}
