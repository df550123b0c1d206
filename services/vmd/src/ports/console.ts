/** A VM's console log file on the host, as the guest writes it. */
export interface ConsoleLogs {
  /** The whole log; '' when it does not exist (yet). */
  read(path: string): Promise<string>;
}
