import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { buildQuery, decodeResponse } from '../../domain/network/dnsWire.js';
import type { DecodedResponse } from '../../domain/network/dnsWire.js';
import { NetError } from '../../domain/network/errors.js';

/** One UDP query, for health probes and tests of the responder. */
export function queryDns(host: string, port: number, name: string, qtype: number, timeoutMs = 2000): Promise<DecodedResponse> {
  const id = randomInt(0, 0x10000);
  const sock = createSocket('udp4');
  return new Promise<DecodedResponse>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      reject(new NetError('DEADLINE_EXCEEDED', 'DNS_TIMEOUT', `no answer from ${host}:${port}`, { address: `${host}:${port}` }));
    }, timeoutMs);
    sock.on('message', (msg) => {
      let r: DecodedResponse;
      try {
        r = decodeResponse(msg);
      } catch {
        return;
      }
      if (r.id !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(new NetError('UNAVAILABLE', 'DNS_QUERY_FAILED', `query to ${host}:${port} failed`, { address: `${host}:${port}` }, { cause: err }));
    });
    sock.send(buildQuery(id, name, qtype), port, host);
  });
}
