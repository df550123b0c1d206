declare const __BANGER_COMPILED__: boolean | undefined;
declare const __BANGER_COMMIT__: string | undefined;

/**
 * True in the bundles `npm run build` makes (scripts/build.mjs defines `__BANGER_COMPILED__`),
 * false when the TypeScript runs through tsx (tests, development). A process that starts
 * another node process must start the compiled entry in the first case: production never
 * loads tsx.
 */
export const COMPILED: boolean = typeof __BANGER_COMPILED__ !== 'undefined' && __BANGER_COMPILED__;

/** The git commit `npm run build` bundled (scripts/build.mjs); undefined under tsx. */
export const BUILD_COMMIT: string | undefined = typeof __BANGER_COMMIT__ !== 'undefined' ? __BANGER_COMMIT__ : undefined;
