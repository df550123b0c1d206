/**
 * vmd's side of ConnectGuest, run by connect-guest.test.ts as a real unprivileged uid:
 *   connect-client.ts SOCKET VM_ID PORT   prints {"ok":true,"got":"<what the guest sent>"}
 *                                          or {"ok":false,"code":...,"reason":...,"message":...}
 * It sends "ping" after reading the guest's first bytes, so the test can see both directions.
 */
import { HelperGuestConnector } from '../../services/vmd/src/adapters/guest-connect-client.js';

const [socketPath = '', vmId = '', port = '0'] = process.argv.slice(2);
try {
  const sock = await new HelperGuestConnector(socketPath).connect(vmId, Number(port), { opId: 'op-connect-test', timeoutMs: 2000 });
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.end('ping\n');
  await new Promise((r) => sock.once('close', r));
  process.stdout.write(`${JSON.stringify({ ok: true, got: Buffer.concat(chunks).toString() })}\n`);
} catch (err) {
  const e = err as { code?: string; reason?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, reason: e.reason, message: e.message })}\n`);
}
