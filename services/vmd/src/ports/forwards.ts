import type { Vm } from '../domain/vm.js';

/** One forward as it runs now (or why it does not). */
export interface ForwardState {
  guestPort: number;
  hostAddress: string;
  hostPort: number;
  auto: boolean;
  connections: number;
  /** '' when listening; else why not (host port taken, ...). */
  problem: string;
}

/**
 * The host side of port forwards: loopback listeners relaying to guest ports. `sync` makes the
 * listeners match what the VM wants now (none unless it runs); `discovered` is what automatic
 * forwarding found listening in the guest.
 */
export interface PortForwards {
  sync(vm: Vm, discovered?: readonly number[]): Promise<ForwardState[]>;
  list(vmId: string): ForwardState[];
  /** Closes the forwards of every VM not in `vmIds` (deleted VMs). */
  retain(vmIds: ReadonlySet<string>): Promise<void>;
  /** Every listener closed (vmd stopping). */
  close(): Promise<void>;
}
