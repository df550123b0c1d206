/**
 * A VM's console log on the host, as the jailer writes it: capped in size and rotated to
 * PATH.1 (one previous file kept), so readers go by offset and never load it whole.
 */
export interface ConsoleLogs {
  /** A cursor at the log's current end; a log that does not exist yet is followed from its start. */
  open(path: string): Promise<ConsoleCursor>;
}

export interface ConsoleCursor {
  /**
   * Up to maxBytes written before the cursor's position, continuing into the rotated previous
   * file when the current one is shorter. `cut` says it starts mid-file (its first line is partial).
   */
  tail(maxBytes: number): Promise<{ data: Buffer; cut: boolean }>;
  /**
   * The next bytes after the position (at most maxBytes), moving it on; empty when caught up.
   * Follows a rotation (the rest of the old file first) and restarts a file truncated in place.
   */
  next(maxBytes: number): Promise<Buffer>;
}
