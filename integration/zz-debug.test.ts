import { it } from 'vitest';
import { imagev1, vmv1 } from '@banger/api';
import { createVmStack, collect } from './vm/vmstack.js';
it('debug', async () => {
  const s = await createVmStack();
  try {
    const b = await collect(s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 }));
    console.log('build', String(b.error));
    const r = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'dbg', noWait: true })));
    console.log(String(r.error));
    for (const d of Object.values(s.stack.daemons)) for (const l of d?.logs ?? []) if (l.level === '50' || (l as {err?: unknown}).err || l.msg.includes('failed')) console.log(d?.name, JSON.stringify(l).slice(0, 1500));
    for (const d of Object.values(s.stack.daemons)) console.log(d?.name, d?.stray.join('').slice(0, 2000));
  } finally { await s.close(); }
}, 600000);
