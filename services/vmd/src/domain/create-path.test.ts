import { describe, expect, it } from 'vitest';
import { chooseCreatePath, type WarmImage } from './create-path.js';
import type { Snapshot } from './snapshot.js';

const GIB = 1024 ** 3;
const IMAGE: WarmImage = { id: 'img1', name: 'debian', fingerprint: 'fp1', kernel: { name: 'cloud', version: '6.1' } };
const CMD: Parameters<typeof chooseCreatePath>[0] = {
  cold: false,
  kernel: '',
  sshAuthorizedKeys: [],
  egress: { mode: 'allow', cidrs: [], hostnames: [] },
  autoForward: true,
  syncFiles: [],
  memoryMib: 1024,
  vcpus: 2,
  workDiskBytes: 8 * GIB,
};

function warm(over: Partial<Snapshot> = {}): Snapshot {
  return {
    id: 'w1',
    name: 'warm-debian-1',
    state: 'ready',
    kind: 'warm',
    sourceVmId: 'tpl',
    sourceVmName: 'warm-template-x',
    imageId: 'img1',
    imageName: 'debian',
    imageFingerprint: 'fp1',
    kernelId: 'cloud/6.1',
    vcpus: 2,
    memoryMib: 1024,
    workDiskGib: 8,
    files: { sizeBytes: 1, stateBytes: 1, stateSha256: 'x', pauseMs: 1, qemuVersion: '7.2.0', accel: 'tcg' },
    opId: null,
    createdAt: new Date('2026-12-01T00:00:00Z'),
    ...over,
  };
}

describe('chooseCreatePath', () => {
  it('restores the newest ready warm snapshot of the image and shape, and says so', () => {
    const older = warm({ id: 'w0', name: 'warm-old', createdAt: new Date('2026-11-30T00:00:00Z') });
    const p = chooseCreatePath(CMD, IMAGE, [older, warm()], 'tcg');
    expect(p).toMatchObject({ path: 'warm', snapshot: { id: 'w1' }, reason: 'warm: snapshot warm-debian-1 for image debian 1024M/2vcpu/8G', discard: [] });
  });

  it('boots when no warm snapshot has the shape; a named snapshot of the image never serves', () => {
    const snaps = [warm({ memoryMib: 512 }), warm({ id: 'w2', vcpus: 1 }), warm({ id: 'w3', workDiskGib: 4 }), warm({ id: 'n1', kind: 'named' }), warm({ id: 'c1', state: 'creating', files: undefined })];
    expect(chooseCreatePath(CMD, IMAGE, snaps, 'tcg')).toEqual({ path: 'cold', reason: 'cold: no warm snapshot for image debian 1024M/2vcpu/8G', discard: [] });
    expect(chooseCreatePath(CMD, { ...IMAGE, name: 'alpine' }, [warm()], 'tcg').reason).toBe('cold: no warm snapshot for image alpine 1024M/2vcpu/8G');
  });

  it('a warm snapshot of an image that changed since (id, fingerprint or kernel) is stale: boot, and discard it', () => {
    for (const changed of [{ id: 'img2' }, { fingerprint: 'fp2' }, { kernel: { name: 'cloud', version: '6.2' } }]) {
      const p = chooseCreatePath(CMD, { ...IMAGE, ...changed }, [warm()], 'tcg');
      expect(p).toMatchObject({ path: 'cold', reason: 'cold: warm snapshot warm-debian-1 stale (image changed)', discard: [{ id: 'w1' }] });
    }
  });

  it('a warm snapshot saved under another accelerator is incompatible: boot, and discard it', () => {
    const p = chooseCreatePath(CMD, IMAGE, [warm()], 'kvm');
    expect(p).toMatchObject({ path: 'cold', reason: 'cold: warm snapshot warm-debian-1 incompatible (saved under tcg, this host runs kvm)', discard: [{ id: 'w1' }] });
  });

  it('a stale one is discarded even when a fresh one serves', () => {
    const p = chooseCreatePath(CMD, IMAGE, [warm({ id: 'old', imageFingerprint: 'fp0' }), warm()], 'tcg');
    expect(p).toMatchObject({ path: 'warm', snapshot: { id: 'w1' }, discard: [{ id: 'old' }] });
  });

  it('a request field the warm path cannot give sends the create down the cold path, naming the field', () => {
    const cases: [Partial<typeof CMD>, string][] = [
      [{ cold: true }, 'cold: --cold'],
      [{ kernel: 'generic' }, "cold: --kernel generic (warm snapshots run the image's own kernel)"],
      [{ sshAuthorizedKeys: ['ssh-ed25519 AAAA k'] }, 'cold: --ssh-key (extra keys are installed by a boot)'],
      [{ egress: { mode: 'deny', cidrs: [], hostnames: [] } }, 'cold: --egress deny (a warm clone starts with the default egress)'],
      [{ autoForward: false }, 'cold: --no-forward (a warm clone forwards its listeners)'],
      [{ syncFiles: [{ guestPath: '/root/x', mode: 0o644, data: Buffer.from('x') }] }, 'cold: sync files (--sync or [[file_sync]]) are written by the cold path only'],
    ];
    for (const [over, reason] of cases) {
      expect(chooseCreatePath({ ...CMD, ...over }, IMAGE, [warm()], 'tcg')).toEqual({ path: 'cold', reason, discard: [] });
    }
  });
});
