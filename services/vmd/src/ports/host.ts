/** What vmd needs to know about the host before it commits to a create. */
export interface HostReadiness {
  accel: string;
  /** Failed prerequisite checks, each with the fix; empty when the host can run VMs. */
  blockers: { name: string; detail: string; fix: string }[];
}

/** privhelper as vmd sees it: the privileged verbs, behind a port so use cases stay testable. */
export interface HostHelper {
  readiness(): Promise<HostReadiness>;
}
