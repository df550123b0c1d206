import type { Logger } from 'pino';
import { invalidArg, NetError } from '../../domain/network/errors.js';
import { parseTapName, tapAlias, tapName, TAP_INDEX_MAX, TAP_PREFIX, validateBridgeName, validateTapPrefix, validateVmId, vmIdFromAlias } from '../../domain/network/names.js';
import type { NetRunner } from './exec.js';
import { classify, tolerate } from './exec.js';
import type { LinkInfo } from './links.js';
import { deleteLink, getLink, listLinks } from './links.js';
import { quietLogger } from './log.js';
import { Mutex } from './mutex.js';

export interface TapPoolOptions {
  readonly bridge: string;
  /** Taps are PREFIX + index; default "bgrtap". Everything with this prefix is the pool's to delete. */
  readonly prefix?: string | undefined;
  /** uid (and optionally gid) allowed to open the taps, so an unprivileged QEMU can use them. */
  readonly ownerUid: number;
  readonly ownerGid?: number | undefined;
  /** Free taps kept ready ahead of demand (default 2). */
  readonly warmSize?: number | undefined;
  /** Released taps are recycled while fewer than this many are free, deleted otherwise (default warmSize). */
  readonly maxFree?: number | undefined;
  /** Upper bound on taps of this pool, free plus assigned (default 1024). */
  readonly maxTaps?: number | undefined;
  readonly log?: Logger | undefined;
}

export interface AcquireResult {
  readonly tap: string;
  /** True when the VM already held this tap (a retried acquire). */
  readonly existing: boolean;
}

export interface ReleaseResult {
  /** Undefined when the VM held no tap. */
  readonly tap: string | undefined;
  /** True when the tap was deleted instead of returned to the pool. */
  readonly deleted: boolean;
}

function count(field: string, v: number | undefined, dflt: number, max: number): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw invalidArg(field, 'OUT_OF_RANGE', `must be an integer 0-${max}`);
  return n;
}

function id32(field: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xfffffffe) throw invalidArg(field, 'OUT_OF_RANGE', 'must be a uid/gid 0-4294967294');
  return v;
}

/**
 * A warm pool of persistent tap devices. Taps are made ahead of time so starting a VM costs
 * no device creation, handed out per VM id (retries get the same tap) and recycled on release.
 * Ownership lives on the device itself (alias `vm:<id>`), so a restarted helper rebuilds the
 * same assignments from `ip link`; all state changes run under one mutex.
 */
export class TapPool {
  readonly bridge: string;
  readonly prefix: string;
  private readonly uid: number;
  private readonly gid: number | undefined;
  private readonly warmSize: number;
  private readonly maxFree: number;
  private readonly maxTaps: number;
  private readonly log: Logger;
  private readonly mutex = new Mutex();
  private readonly assigned = new Map<string, string>();
  private readonly free = new Set<string>();
  private started = false;
  private background: Promise<void> = Promise.resolve();

  constructor(
    private readonly run: NetRunner,
    opts: TapPoolOptions,
  ) {
    this.bridge = validateBridgeName(opts.bridge);
    this.prefix = validateTapPrefix(opts.prefix ?? TAP_PREFIX);
    const uid = id32('owner_uid', opts.ownerUid);
    if (uid === undefined) throw invalidArg('owner_uid', 'OUT_OF_RANGE', 'is required');
    this.uid = uid;
    this.gid = id32('owner_gid', opts.ownerGid);
    this.maxTaps = count('max_taps', opts.maxTaps, 1024, TAP_INDEX_MAX + 1);
    this.warmSize = count('warm_size', opts.warmSize, 2, Math.min(256, this.maxTaps));
    this.maxFree = count('max_free', opts.maxFree, this.warmSize, this.maxTaps);
    this.log = opts.log ?? quietLogger();
  }

  /** Rebuilds state from the kernel and fills the warm pool. Idempotent; verbs call it lazily. */
  start(): Promise<{ assigned: number; free: number }> {
    return this.mutex.run(async () => {
      await this.discover();
      await this.replenishLocked();
      return { assigned: this.assigned.size, free: this.free.size };
    });
  }

  acquire(vmIdIn: string): Promise<AcquireResult> {
    const vmId = validateVmId(vmIdIn);
    const result = this.mutex.run(() => this.acquireLocked(vmId));
    void result.then(() => this.scheduleReplenish(), () => undefined);
    return result;
  }

  release(vmIdIn: string): Promise<ReleaseResult> {
    const vmId = validateVmId(vmIdIn);
    return this.mutex.run(() => this.releaseLocked(vmId));
  }

  /** The tap a VM holds, as of the last state change (no kernel round trip). */
  tapOf(vmIdIn: string): string | undefined {
    return this.assigned.get(validateVmId(vmIdIn));
  }

  snapshot(): { assigned: ReadonlyMap<string, string>; free: readonly string[] } {
    return { assigned: new Map(this.assigned), free: [...this.free].sort() };
  }

  /**
   * VM id → marked tap, discovering the kernel's state first if no verb has yet, without
   * creating any tap (ListHeld must not change the host). Hook for issue 14's ListHeld.
   */
  held(): Promise<ReadonlyMap<string, string>> {
    return this.mutex.run(async () => {
      await this.ensureStarted();
      await this.forgetVanished();
      return new Map(this.assigned);
    });
  }

  /** Taps deleted behind the pool's back (by hand, or with a netns) are no longer reported as held. */
  private async forgetVanished(): Promise<void> {
    const present = new Set((await listLinks(this.run)).filter((l) => this.isOurs(l)).map((l) => l.name));
    for (const [vmId, tap] of this.assigned) {
      if (present.has(tap)) continue;
      this.assigned.delete(vmId);
      this.log.info({ vm_id: vmId, tap }, 'tap vanished; no longer held');
    }
    for (const tap of this.free) if (!present.has(tap)) this.free.delete(tap);
  }

  /** Creates taps until the warm size is reached. */
  replenish(): Promise<number> {
    return this.mutex.run(async () => {
      await this.ensureStarted();
      return this.replenishLocked();
    });
  }

  /** Resolves when background refills have finished (tests and shutdown). */
  async idle(): Promise<void> {
    await this.background;
    await this.mutex.run(() => Promise.resolve());
  }

  /** Deletes every tap with the pool's prefix, assigned or not. Used by cleanup; idempotent. */
  destroyAll(): Promise<number> {
    return this.mutex.run(async () => {
      let n = 0;
      for (const l of await listLinks(this.run)) if (this.isOurs(l) && (await deleteLink(this.run, l.name))) n++;
      this.assigned.clear();
      this.free.clear();
      this.started = false;
      this.log.info({ prefix: this.prefix, deleted: n }, 'tap pool destroyed');
      return n;
    });
  }

  private isOurs(l: LinkInfo): boolean {
    return l.kind === 'tun' && l.tunType === 'tap' && parseTapName(this.prefix, l.name) !== undefined;
  }

  private async ensureStarted(): Promise<void> {
    if (!this.started) await this.discover();
  }

  /** Taps without a (first) owner that are still held open, or were made for another uid, are deleted rather than pooled. */
  private async discover(): Promise<void> {
    this.assigned.clear();
    this.free.clear();
    const ours = (await listLinks(this.run)).filter((l) => this.isOurs(l)).sort((a, b) => (parseTapName(this.prefix, a.name) ?? 0) - (parseTapName(this.prefix, b.name) ?? 0));
    for (const l of ours) {
      const vmId = vmIdFromAlias(l.alias);
      if (vmId !== undefined && !this.assigned.has(vmId)) {
        this.assigned.set(vmId, l.name);
        continue;
      }
      if ((l.up && l.carrier) || (typeof l.tunOwner === 'number' && l.tunOwner !== this.uid)) {
        await deleteLink(this.run, l.name);
        continue;
      }
      if (l.master !== undefined || l.up || l.alias !== undefined) await this.detach(l.name);
      this.free.add(l.name);
    }
    this.started = true;
    this.log.info({ prefix: this.prefix, assigned: this.assigned.size, free: this.free.size }, 'tap pool discovered');
  }

  private async acquireLocked(vmId: string): Promise<AcquireResult> {
    await this.ensureStarted();
    const fields = { vm_id: vmId };
    const br = await getLink(this.run, this.bridge);
    if (br?.kind !== 'bridge') throw new NetError('FAILED_PRECONDITION', 'BRIDGE_NOT_FOUND', `bridge ${this.bridge} does not exist`, { bridge: this.bridge });
    const held = this.assigned.get(vmId);
    if (held !== undefined) {
      const link = await getLink(this.run, held);
      if (link !== undefined) {
        if (link.master !== this.bridge || !link.up || vmIdFromAlias(link.alias) !== vmId) await this.attach(held, vmId);
        return { tap: held, existing: true };
      }
      this.assigned.delete(vmId);
    }
    for (;;) {
      const tap = this.takeFree() ?? (await this.create());
      if ((await getLink(this.run, tap)) === undefined) continue;
      try {
        await this.attach(tap, vmId);
      } catch (err) {
        await this.detach(tap).catch(() => undefined);
        this.free.add(tap);
        throw classify(err, `attach ${tap}`, fields);
      }
      this.assigned.set(vmId, tap);
      this.log.info({ vm_id: vmId, tap }, 'tap acquired');
      return { tap, existing: false };
    }
  }

  /**
   * A tap some process still holds open (carrier up) is deleted, never recycled: handing it to
   * another VM while the old QEMU is attached would bridge two guests' traffic into one device.
   */
  private async releaseLocked(vmId: string): Promise<ReleaseResult> {
    await this.ensureStarted();
    const tap = this.assigned.get(vmId);
    if (tap === undefined) return { tap: undefined, deleted: false };
    const link = await getLink(this.run, tap);
    const held = link !== undefined && link.up && link.carrier;
    let deleted: boolean;
    if (link !== undefined && !held && this.free.size < this.maxFree) {
      await this.detach(tap);
      this.free.add(tap);
      deleted = false;
    } else {
      await deleteLink(this.run, tap);
      deleted = true;
    }
    this.assigned.delete(vmId);
    this.log.info({ vm_id: vmId, tap, deleted, held }, 'tap released');
    return { tap, deleted };
  }

  /** The ownership alias goes on first, so a crash mid-way leaves the tap marked as the VM's. */
  private async attach(tap: string, vmId: string): Promise<void> {
    const fields = { tap, vm_id: vmId };
    await tolerate(() => this.run.ip(['link', 'set', 'dev', tap, 'alias', tapAlias(vmId)]), `mark ${tap}`, [], fields);
    await tolerate(() => this.run.ip(['link', 'set', 'dev', tap, 'master', this.bridge, 'up']), `attach ${tap}`, [], fields);
  }

  /** The reverse order: unplug first, drop the ownership mark last. */
  private async detach(tap: string): Promise<void> {
    await tolerate(() => this.run.ip(['link', 'set', 'dev', tap, 'down', 'nomaster']), `detach ${tap}`, [], { tap });
    await tolerate(() => this.run.ip(['link', 'set', 'dev', tap, 'alias', '']), `clear alias of ${tap}`, [], { tap });
  }

  private takeFree(): string | undefined {
    const first = [...this.free].sort((a, b) => (parseTapName(this.prefix, a) ?? 0) - (parseTapName(this.prefix, b) ?? 0))[0];
    if (first !== undefined) this.free.delete(first);
    return first;
  }

  private async create(): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const used = new Set([...this.assigned.values(), ...this.free]);
      if (used.size >= this.maxTaps) throw new NetError('RESOURCE_EXHAUSTED', 'TAP_POOL_EXHAUSTED', `tap pool ${this.prefix} holds ${this.maxTaps} taps already`, { prefix: this.prefix });
      let index = 0;
      while (used.has(tapName(this.prefix, index))) index++;
      const tap = tapName(this.prefix, index);
      const args = ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(this.uid), ...(this.gid === undefined ? [] : ['group', String(this.gid)])];
      try {
        await this.run.ip(args);
        this.log.debug({ tap }, 'tap created');
        return tap;
      } catch (err) {
        const e = classify(err, `create ${tap}`, { tap });
        if (e.kind !== 'ALREADY_EXISTS' && e.reason !== 'DEVICE_BUSY') throw e;
        await this.discover();
      }
    }
    throw new NetError('ABORTED', 'TAP_NAME_RACE', `could not find a free tap name with prefix ${this.prefix}`, { prefix: this.prefix });
  }

  private async replenishLocked(): Promise<number> {
    let made = 0;
    while (this.free.size < this.warmSize && this.assigned.size + this.free.size < this.maxTaps) {
      this.free.add(await this.create());
      made++;
    }
    return made;
  }

  private scheduleReplenish(): void {
    this.background = this.mutex
      .run(() => this.replenishLocked())
      .then(
        () => undefined,
        (err: unknown) => this.log.warn({ err }, 'tap pool refill failed'),
      );
  }
}
