import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, databaseDataDir, loadConfig, parseConfig } from './index.js';

const ROOT = { env: {}, uid: 0 };

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills defaults for root', () => {
    const c = parseConfig('', 'test.toml', ROOT);
    expect(c.paths).toEqual({ stateDir: '/var/lib/banger', runDir: '/run/banger', cacheDir: '/var/cache/banger' });
    expect(c.vmd.socket).toBe('/run/banger/vmd.sock');
    expect(c.database.url).toBe('');
    expect(databaseDataDir(c, 'vmd')).toBe('/var/lib/banger/db/vmd-postgres');
    expect(c.network.netns).toBeNull();
    expect(c.hypervisor.accel).toBe('auto');
  });

  it('uses per-user paths for non-root users', () => {
    const c = parseConfig('', 'test.toml', { env: { HOME: '/home/dev', XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000 });
    expect(c.paths.stateDir).toBe('/home/dev/.local/state/banger');
    expect(c.paths.cacheDir).toBe('/home/dev/.cache/banger');
    expect(c.vmd.socket).toBe('/run/user/1000/banger/vmd.sock');
  });

  it('reads every section from TOML', () => {
    const c = parseConfig(
      `
[paths]
state_dir = "/srv/banger"
[database]
url = "postgresql://banger@db/banger"
[log]
level = "debug"
[privhelper]
allowed_uids = [0, 1000]
[network]
cidr = "10.20.0.0/16"
bridge = "br-test"
netns = "banger"
tap_pool_size = 4
[vm]
max_memory_mib = 4096
[hypervisor]
qemu_binary = "/opt/qemu/bin/qemu-system-x86_64"
accel = "tcg"
`,
      'test.toml',
      ROOT,
    );
    expect(c.paths.stateDir).toBe('/srv/banger');
    expect(c.database.url).toBe('postgresql://banger@db/banger');
    expect(c.log.level).toBe('debug');
    expect(c.privhelper.allowedUids).toEqual([0, 1000]);
    expect(c.network).toEqual({ cidr: '10.20.0.0/16', bridge: 'br-test', netns: 'banger', tapPoolSize: 4, dnsUpstream: '' });
    expect(c.vm.memoryMib).toEqual({ min: 128, default: 1024, max: 4096 });
    expect(c.hypervisor).toEqual({ qemuBinary: '/opt/qemu/bin/qemu-system-x86_64', accel: 'tcg' });
  });

  it('rejects a bad CIDR naming the key, the expected form and the value', () => {
    const e = errorOf(() => parseConfig('[network]\ncidr = "abc"\n', '/etc/banger/config.toml', ROOT));
    expect(e.message).toBe(
      'config: network.cidr: expected an IPv4 CIDR like 172.30.0.0/24, got "abc" (from /etc/banger/config.toml)',
    );
    expect(e.fields['key']).toBe('network.cidr');
    expect(e.reason).toBe('INVALID_CONFIG_VALUE');
  });

  it.each([
    ['[network]\ncidr = "10.0.0.1/24"', 'network.cidr', 'host bits zero'],
    ['[network]\ncidr = "300.0.0.0/24"', 'network.cidr', 'IPv4 CIDR'],
    ['[network]\nbridge = "a-very-long-bridge-name"', 'network.bridge', 'interface name'],
    ['[network]\ntap_pool_size = -1', 'network.tap_pool_size', 'integer from 0'],
    ['[hypervisor]\naccel = "xen"', 'hypervisor.accel', '"auto", "kvm", "tcg"'],
    ['[paths]\nstate_dir = "relative/dir"', 'paths.state_dir', 'absolute path'],
    ['[privhelper]\nallowed_uids = ["root"]', 'privhelper.allowed_uids', 'list of integers'],
    ['[privhelper]\nclient_group = "Banger Users"', 'privhelper.client_group', 'group name'],
    ['[database]\nurl = "mysql://x"', 'database.url', 'postgresql://'],
    ['[vm]\ndefault_vcpus = 16', 'vm.default_vcpus', 'min_vcpus <= default_vcpus <= max_vcpus'],
  ])('rejects %j', (toml, key, expected) => {
    const e = errorOf(() => parseConfig(toml, 'test.toml', ROOT));
    expect(e.message).toContain(`config: ${key}: expected`);
    expect(e.message).toContain(expected);
  });

  it('rejects unknown keys and sections by name', () => {
    expect(errorOf(() => parseConfig('[network]\ncidrr = "10.0.0.0/24"', 't.toml', ROOT)).message).toMatch(
      /^config: network\.cidrr: unknown key \(known: cidr, bridge, netns, tap_pool_size, dns_upstream\)/,
    );
    expect(errorOf(() => parseConfig('[netwrk]\ncidr = "10.0.0.0/24"', 't.toml', ROOT)).message).toMatch(
      /^config: \[netwrk\]: unknown section/,
    );
    expect(errorOf(() => parseConfig('', 't.toml', { env: { BANGER_NETWORK_CIRD: 'x' }, uid: 0 })).message).toMatch(
      /^config: network\.cird: unknown key .*BANGER_NETWORK_CIRD/,
    );
  });

  it('reports TOML syntax errors with the file', () => {
    const e = errorOf(() => parseConfig('[network\n', '/x/config.toml', ROOT));
    expect(e.reason).toBe('INVALID_CONFIG_SYNTAX');
    expect(e.message).toMatch(/^config: \/x\/config\.toml: not valid TOML/);
  });

  it('lets environment variables override the file', () => {
    const env = {
      BANGER_DATABASE_URL: 'postgresql://env@/db',
      BANGER_NETWORK_TAP_POOL_SIZE: '8',
      BANGER_PRIVHELPER_ALLOWED_UIDS: '0,1001',
      BANGER_VM_MAX_VCPUS: '4',
      UNRELATED: 'x',
    };
    const c = parseConfig(
      '[database]\nurl = "postgresql://file@/db"\n[network]\ntap_pool_size = 2\ncidr = "10.9.0.0/24"\n',
      't.toml',
      { env, uid: 0 },
    );
    expect(c.database.url).toBe('postgresql://env@/db');
    expect(c.network.tapPoolSize).toBe(8);
    expect(c.network.cidr).toBe('10.9.0.0/24');
    expect(c.privhelper.allowedUids).toEqual([0, 1001]);
    expect(c.vm.vcpus.max).toBe(4);
  });

  it('names the env variable when an override is bad', () => {
    const e = errorOf(() => parseConfig('', 't.toml', { env: { BANGER_NETWORK_CIDR: '10.0.0.0' }, uid: 0 }));
    expect(e.message).toBe(
      'config: network.cidr: expected an IPv4 CIDR like 172.30.0.0/24, got "10.0.0.0" (from environment variable BANGER_NETWORK_CIDR)',
    );
  });
});

describe('loadConfig', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tmp(): string {
    const d = mkdtempSync(join(tmpdir(), 'banger-config-'));
    dirs.push(d);
    return d;
  }

  it('reads the file named by BANGER_CONFIG', () => {
    const d = tmp();
    writeFileSync(join(d, 'c.toml'), '[log]\nlevel = "warn"\n');
    const c = loadConfig({ env: { BANGER_CONFIG: join(d, 'c.toml') }, uid: 0 });
    expect(c.log.level).toBe('warn');
    expect(c.source).toBe(join(d, 'c.toml'));
  });

  it('prefers an explicit path over BANGER_CONFIG, and fails when it is missing', () => {
    const d = tmp();
    writeFileSync(join(d, 'a.toml'), '[log]\nlevel = "error"\n');
    writeFileSync(join(d, 'b.toml'), '[log]\nlevel = "debug"\n');
    expect(loadConfig({ env: { BANGER_CONFIG: join(d, 'b.toml') }, path: join(d, 'a.toml'), uid: 0 }).log.level).toBe(
      'error',
    );
    const e = errorOf(() => loadConfig({ env: {}, path: join(d, 'missing.toml'), uid: 0 }));
    expect(e.reason).toBe('CONFIG_UNREADABLE');
    expect(e.message).toContain('missing.toml');
  });

  it('finds the per-user file under XDG_CONFIG_HOME for non-root users', () => {
    const d = tmp();
    mkdirSync(join(d, 'banger'));
    writeFileSync(join(d, 'banger', 'config.toml'), '[network]\nbridge = "devbr0"\n');
    const c = loadConfig({ env: { XDG_CONFIG_HOME: d, HOME: d }, uid: 1000 });
    expect(c.network.bridge).toBe('devbr0');
    expect(c.source).toBe(join(d, 'banger', 'config.toml'));
  });
});
