import { padding, tarHeaders, TAR_END } from '@banger/runtime/tar';
import { describe, expect, it } from 'vitest';
import { checkedArchive } from './upload-files.js';

function member(name: string, type: string, data = Buffer.alloc(0), linkname = ''): Buffer {
  return Buffer.concat([tarHeaders({ name, type, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0, linkname }), data, Buffer.alloc(padding(data.length))]);
}

async function drain(chunks: Buffer[], root: string): Promise<{ passed: Buffer[]; error: unknown }> {
  async function* src(): AsyncGenerator<Buffer> {
    yield* chunks;
  }
  const passed: Buffer[] = [];
  try {
    for await (const c of checkedArchive(src(), root).stream) passed.push(c);
    return { passed, error: undefined };
  } catch (error) {
    return { passed, error };
  }
}

describe('checkedArchive', () => {
  it('passes a good archive through unchanged', async () => {
    const archive = Buffer.concat([member('app', '5'), member('app/a', '0', Buffer.from('x')), TAR_END]);
    const { passed, error } = await drain([archive.subarray(0, 700), archive.subarray(700)], 'app');
    expect(error).toBeUndefined();
    expect(Buffer.concat(passed)).toEqual(archive);
  });

  it('never passes on the chunk holding a bad entry', async () => {
    const good = member('app', '5');
    const bad = member('app/../../etc/x', '0', Buffer.from('x'));
    const { passed, error } = await drain([good, bad], 'app');
    expect(error).toMatchObject({ reason: 'TAR_ENTRY_ESCAPES' });
    expect(Buffer.concat(passed)).toEqual(good);
  });

  it('fails a stream cut in the middle of an entry, after passing what it had', async () => {
    const { error } = await drain([member('app', '0', Buffer.alloc(3000)).subarray(0, 1000)], 'app');
    expect(error).toMatchObject({ reason: 'TAR_TRUNCATED' });
  });
});
