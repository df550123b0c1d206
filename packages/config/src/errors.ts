/**
 * A bad or unreadable configuration. The daemon stops at start-up with this message, so it
 * always names the key (`network.cidr`), the expected form and where the value came from.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly kind = 'FAILED_PRECONDITION' as const;
  readonly reason: string;
  readonly fields: Readonly<Record<string, string>>;

  constructor(reason: string, message: string, fields: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.fields = fields;
  }
}
