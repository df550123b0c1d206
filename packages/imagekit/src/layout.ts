import { fileURLToPath } from 'node:url';

/** The repository's images/ directory (kernel catalog, recipes, guest files). */
export const DEFAULT_IMAGES_DIR = fileURLToPath(new URL('../../../images/', import.meta.url));
