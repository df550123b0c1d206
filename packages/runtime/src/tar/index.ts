export { BLOCK, padding, tarHeaders, TAR_END, type TarEntry, type TarKind } from './header.js';
export { TarParser, type TarVisitor } from './parser.js';
export { normalEntryPath, TarEntryCheck } from './entry-check.js';
