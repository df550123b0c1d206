import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, mkdtemp, open, readdir, rename, rm, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BangerError } from '@banger/runtime/errors';
import { normalEntryPath, TarEntryCheck, TarParser, type TarEntry } from '@banger/runtime/tar';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

/** Where a download lands, resolved like `cp -a`: into DEST when it is a directory, else as DEST. */
export async function resolveHostDest(dest: string, name: string): Promise<{ parent: string; final: string }> {
  const abs = resolve(dest);
  const st = await lstat(abs).catch(() => undefined);
  const isDir = st?.isDirectory() === true || (st?.isSymbolicLink() === true && (await stat(abs).then((s) => s.isDirectory()).catch(() => false)));
  if (isDir) return { parent: abs, final: join(abs, name) };
  if (dest.endsWith('/')) throw new CliError(st ? `${dest}: not a directory` : `${dest}: no such directory`, st ? EXIT.PRECONDITION : EXIT.NOT_FOUND, st ? 'NOT_A_DIRECTORY' : 'DEST_NOT_FOUND');
  const parent = dirname(abs);
  const pst = await stat(parent).catch(() => undefined);
  if (!pst) throw new CliError(`${dirname(dest) || '.'}: no such directory`, EXIT.NOT_FOUND, 'DEST_NOT_FOUND');
  if (!pst.isDirectory()) throw new CliError(`${dirname(dest)}: not a directory`, EXIT.PRECONDITION, 'NOT_A_DIRECTORY');
  return { parent, final: abs };
}

/**
 * Extracts a tar stream from a guest as the invoking user: into a fresh directory beside the
 * destination, every entry checked first (TarEntryCheck: nothing outside the top-level name,
 * nothing through a symlink, no devices), files opened with O_EXCL|O_NOFOLLOW; then moved into
 * place. Any failure removes the temporary directory, so nothing partial is left.
 */
export class HostExtractor {
  private readonly check: TarEntryCheck;
  private readonly parser: TarParser;
  private file: FileHandle | undefined;
  private filePath = '';
  private readonly dirModes: { path: string; entry: TarEntry }[] = [];
  private readonly asRoot = process.getuid?.() === 0;

  private constructor(
    private readonly tmp: string,
    private readonly name: string,
    private readonly final: string,
  ) {
    this.check = new TarEntryCheck(name);
    this.parser = new TarParser({
      entry: (e) => this.entry(e),
      data: async (chunk) => {
        if (this.file) await this.file.write(chunk);
      },
      entryEnd: (e) => this.entryEnd(e),
    });
  }

  static async create(dest: string, name: string): Promise<HostExtractor> {
    const { parent, final } = await resolveHostDest(dest, name);
    const tmp = await mkdtemp(join(parent, '.banger-cp-')).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot write in ${parent}: ${err.code ?? err.message}`, err.code === 'ENOSPC' ? EXIT.RESOURCE_EXHAUSTED : EXIT.PERMISSION, 'DEST_UNWRITABLE');
    });
    return new HostExtractor(tmp, name, final);
  }

  async push(chunk: Buffer): Promise<void> {
    try {
      await this.parser.push(chunk);
    } catch (err) {
      throw localError(err);
    }
  }

  /** Checks the archive ended, applies directory modes, and moves the tree into place; returns where it landed. */
  async commit(): Promise<string> {
    try {
      this.parser.finish();
      const kind = this.check.rootKind();
      if (!kind) throw new CliError(`the archive held nothing named ${this.name}`, EXIT.GENERIC, 'TAR_EMPTY');
      for (const d of this.dirModes.reverse()) await this.applyMeta(d.path, d.entry);
      await place(join(this.tmp, this.name), this.final);
      return this.final;
    } catch (err) {
      throw localError(err);
    } finally {
      await this.abort();
    }
  }

  /** Removes everything extracted so far. */
  async abort(): Promise<void> {
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    await rm(this.tmp, { recursive: true, force: true });
  }

  private async entry(e: TarEntry): Promise<void> {
    const rel = this.check.check(e);
    const path = join(this.tmp, rel);
    // A later entry replaces an earlier one of the same path (tar semantics); never a directory.
    const existing = await lstat(path).catch(() => undefined);
    if (existing && !(existing.isDirectory() && e.kind === 'dir')) await rm(path, { recursive: true, force: true });
    if (e.kind === 'dir') {
      await mkdir(path, { recursive: false, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      this.dirModes.push({ path, entry: e });
    } else if (e.kind === 'file') {
      this.filePath = path;
      this.file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } else if (e.kind === 'symlink') {
      await symlink(e.linkname, path);
    } else if (e.kind === 'hardlink') {
      await link(join(this.tmp, normalEntryPath(e.linkname)), path);
    }
  }

  private async entryEnd(e: TarEntry): Promise<void> {
    if (e.kind !== 'file' || !this.file) return;
    const f = this.file;
    this.file = undefined;
    await f.close();
    await this.applyMeta(this.filePath, e);
  }

  private async applyMeta(path: string, e: TarEntry): Promise<void> {
    if (this.asRoot) await lchown(path, e.uid, e.gid).catch(() => undefined);
    await chmod(path, e.mode);
    await utimes(path, e.mtime, e.mtime).catch(() => undefined);
  }
}

/** Moves a finished tree into place: a rename, or a merge into an existing directory. */
async function place(src: string, final: string): Promise<void> {
  const srcSt = await lstat(src);
  const dstSt = await lstat(final).catch(() => undefined);
  if (!dstSt) return rename(src, final);
  if (srcSt.isDirectory()) {
    if (!dstSt.isDirectory()) throw new CliError(`${final}: exists and is not a directory`, EXIT.PRECONDITION, 'NOT_A_DIRECTORY');
    for (const child of await readdir(src)) await place(join(src, child), join(final, child));
    return;
  }
  if (dstSt.isDirectory()) throw new CliError(`${final}: is a directory`, EXIT.PRECONDITION, 'IS_A_DIRECTORY');
  await rename(src, final);
}

function localError(err: unknown): unknown {
  if (err instanceof BangerError) return new CliError(err.message, err.code === 'INVALID_ARGUMENT' ? EXIT.PRECONDITION : EXIT.GENERIC, err.reason);
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return new CliError(`no space left on the host: ${e.message}`, EXIT.RESOURCE_EXHAUSTED, 'HOST_NO_SPACE');
  return err;
}

