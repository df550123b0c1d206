// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const deepImports = { group: ['@banger/*/src/*', '@banger/*/gen/*'], message: 'import a package through its entry point or a subpath export, not its internals.' };

/**
 * Domain, use-case and port code: no transports, databases or generated code, not even
 * indirectly through a barrel that loads them (CONVENTIONS.md 1). Type-only imports are erased
 * at run time and stay allowed; values come from the packages' grpc-free subpath exports.
 */
const domainBans = {
  paths: [
    { name: '@banger/runtime', allowTypeImports: true, message: 'the runtime barrel loads grpc-js: import from @banger/runtime/errors, /ids, /ops, /logging, /context, /duration or /keyed-lock.' },
    { name: '@banger/store', allowTypeImports: true, message: 'the store barrel loads pg and PGlite: use a port (types from @banger/store, values from @banger/store/operations).' },
    { name: '@banger/operations', allowTypeImports: true, message: 'the operations barrel loads its gRPC handlers: import from @banger/operations/app.' },
  ],
  patterns: [
    { group: ['@grpc/*', 'pg', '@electric-sql/*', '@banger/api', '**/adapters/**'], message: 'domain and app code stay free of transports, databases and generated code (CONVENTIONS.md 1): use a port.' },
    deepImports,
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'packages/api/gen/**', '**/native/build/**', 'bench/results/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      // gRPC codes arrive as plain numbers from the wire; comparing them to grpc.status is intended.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Disagrees with tsc under exactOptionalPropertyTypes (ts-proto fromPartial); tsc is the judge.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [deepImports] }],
    },
  },
  {
    files: ['services/*/src/domain/**/*.ts', 'services/*/src/app/**/*.ts', 'services/*/src/ports/**/*.ts', 'packages/*/src/app/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', domainBans] },
  },
  {
    files: ['**/*.test.ts', 'integration/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // vitest types its asymmetric matchers (expect.any, expect.stringMatching...) as any;
      // placing one inside toMatchObject({...}) is how they are meant to be used.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Plain Node scripts (launchers, build and CI helpers).
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
);
