import { describe, expect, it } from 'vitest';
import { validateNetworkConfig } from './config.js';

describe('validateNetworkConfig', () => {
  it('fills defaults around the CIDR', () => {
    const c = validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 1000 });
    expect(c).toMatchObject({ bridge: 'bgr-br0', gatewayCidr: '172.30.0.1/24', gateway: '172.30.0.1', tapPrefix: 'bgrtap', tapWarmSize: 2, tapMaxFree: 2, tapMax: 1024, manageIpForward: false, netns: undefined, egressInterface: undefined });
    expect(c.dns).toEqual({ address: '172.30.0.1', port: 53, zone: 'vm', ttl: 5, upstream: undefined, learnTtlMin: 30, learnTtlMax: 3600 });
    expect(validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 0, dnsUpstream: '192.0.2.53:5353' }).dns.upstream).toEqual({ host: '192.0.2.53', port: 5353 });
    expect(() => validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 0, dnsUpstream: 'dns.example' })).toThrow(/network.dns_upstream/);
  });
  it('names the bad setting', () => {
    expect(() => validateNetworkConfig({ cidr: '172.30.0.1/24', tapOwnerUid: 0 })).toThrow(expect.objectContaining({ reason: 'BAD_CIDR', fields: { field: 'network.cidr' } }));
    expect(() => validateNetworkConfig({ cidr: '172.30.0.0/24' })).toThrow(expect.objectContaining({ fields: { field: 'network.tap_owner_uid' } }));
    expect(() => validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 0, bridge: 'docker0' })).toThrow(expect.objectContaining({ fields: { field: 'network.bridge' } }));
    expect(() => validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 0, manageIpForward: 'yes' })).toThrow(expect.objectContaining({ fields: { field: 'network.manage_ip_forward' } }));
    expect(() => validateNetworkConfig({ cidr: '172.30.0.0/24', tapOwnerUid: 0, tapMaxFree: 5000 })).toThrow(expect.objectContaining({ fields: { field: 'network.tap_max_free' } }));
  });
});
