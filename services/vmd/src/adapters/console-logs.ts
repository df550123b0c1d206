import { readFile } from 'node:fs/promises';
import type { ConsoleLogs } from '../ports/console.js';

/** Console logs as files privhelper shares with vmd's group. */
export class FileConsoleLogs implements ConsoleLogs {
  read(path: string): Promise<string> {
    return readFile(path, 'utf8').catch(() => '');
  }
}
