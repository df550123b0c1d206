import type { Vm } from '../domain/vm.js';

/** A running VM with every field filled, for converter and mapper tests. */
export function sampleVm(over: Partial<Vm> = {}): Vm {
  return {
    id: '0123456789abcdef',
    name: 'web',
    state: 'running',
    vcpus: 2,
    memoryMib: 1024,
    spec: {
      image: { id: 'img1', name: 'debian-bookworm', fingerprint: 'f'.repeat(64) },
      kernel: { name: 'debian-bookworm-cloud', version: '6.1.0-40-cloud-amd64' },
      boot: { storeKernel: { name: 'debian-bookworm-cloud', version: '6.1.158-1' }, kernelPath: '/s/kernels/cloud/vmlinux', initrdPath: '/s/kernels/cloud/initrd.img', initPath: '/sbin/init', kernelArgs: ['quiet'] },
      workDiskBytes: 4 * 1024 ** 3,
      workSeedFingerprint: 'seed',
      services: [{ name: 'opencode', port: 4096, readiness: 'tcp', timeoutSeconds: 180, secretEnv: 'OPENCODE_SERVER_PASSWORD' }],
      sshAuthorizedKeys: [],
      sshHostKeys: [],
      hypervisor: 'qemu',
      forwards: { auto: true, ports: [] },
      createPath: '',
    },
    files: { rootDisk: '/s/vms/x/root.qcow2', workDisk: '/s/vms/x/work.ext4', agentSocket: '/r/vms/x/agent.sock', consoleLog: '/r/vms/x/console.log' },
    network: { ipv4: '172.30.0.5', mac: '02:00:00:00:00:05', tap: 'bt5' },
    egress: { mode: 'allow', cidrs: [], hostnames: [] },
    pid: 4242,
    credentials: [],
    createOpId: 'op-aaaaaaaaaaaa',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    updatedAt: new Date('2026-01-01T00:00:00Z'),
    startedAt: new Date('2026-01-01T00:00:05Z'),
    stoppedAt: null,
    lastUsedAt: null,
    ...over,
  };
}
