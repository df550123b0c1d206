import { describe, expect, it } from 'vitest';
import { adoptOrMintOpId, isValidOpId, mintOpId, OP_ID_PATTERN } from './opid.js';

describe('op ids', () => {
  it('mints ids of the documented form, distinct each time', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => mintOpId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(OP_ID_PATTERN);
  });

  it('adopts a valid inbound id', () => {
    expect(adoptOrMintOpId('op-abcdefgh2345')).toEqual({ opId: 'op-abcdefgh2345', adopted: true });
  });

  it.each([undefined, '', 'op-', 'op-ABCDEFGH2345', 'op-abcdefgh23456', 'op-abcdefgh1345', 'xx-abcdefgh2345', ' op-abcdefgh2345', 42])(
    'replaces malformed inbound id %j',
    (inbound) => {
      const { opId, adopted } = adoptOrMintOpId(inbound);
      expect(adopted).toBe(false);
      expect(isValidOpId(opId)).toBe(true);
      expect(opId).not.toBe(inbound);
    },
  );
});
