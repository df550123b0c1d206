export * from './errors.js';
export * from './names.js';
export * from './cidr.js';
export * from './alloc.js';
export * from './natRuleset.js';
export * from './dnsRecords.js';
export * from './dnsWire.js';
export * from './config.js';
