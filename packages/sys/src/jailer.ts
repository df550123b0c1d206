import { fileURLToPath } from 'node:url';

/** The jailer executable built next to the addon (native/jailer.c); privhelper runs it as root. */
export function jailerPath(): string {
  return fileURLToPath(new URL('../native/build/banger-jailer', import.meta.url));
}
