import { describe, expect, it } from 'vitest';
import { apiReference, BUF_CURL_EXAMPLE } from './reference.js';

describe('apiReference (docs/api.md)', () => {
  const doc = apiReference();

  it('lists the three services with their RPCs, streaming shapes and proto comments', () => {
    for (const s of ['banger.vm.v1.VmService', 'banger.image.v1.ImageService', 'banger.helper.v2.HelperService']) expect(doc).toContain(`\n## ${s}\n`);
    expect(doc).toMatch(/\| `CreateVm` \| \[`banger\.vm\.v1\.CreateVmRequest`\]\(#bangervmv1createvmrequest\) \| stream \[`banger\.vm\.v1\.CreateVmResponse`\]\(#bangervmv1createvmresponse\) \| CreateVm creates and boots a VM/);
    expect(doc).toMatch(/\| `OpenTunnel` \| stream .* \| stream /);
  });

  it('documents messages (fields, maps, oneofs) and enums, and carries the buf curl example', () => {
    expect(doc).toContain('\n### banger.common.v1.DatabaseStatus\n');
    expect(doc).toContain('| `reachable` | 3 | bool | A `SELECT 1` answered within the probe\'s deadline. |');
    expect(doc).toMatch(/\| `database` \| 6 \| \[`banger\.common\.v1\.DatabaseStatus`\]/);
    expect(doc).toMatch(/\(oneof `body`\)/);
    expect(doc).toContain('\n### banger.vm.v1.VmState\n');
    expect(doc).toContain('| `VM_STATE_RUNNING` |');
    expect(doc).toContain(BUF_CURL_EXAMPLE);
    expect(doc).not.toContain('MapEntry');
  });
});
