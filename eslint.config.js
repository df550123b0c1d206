// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const domainBans = {
  patterns: [
    { group: ['@grpc/*', 'pg', '@electric-sql/*', '@banger/api', '**/adapters/**'], message: 'domain and app code stay free of transports, databases and generated code (CONVENTIONS.md 1): use a port.' },
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'packages/api/gen/**', '**/native/build/**', 'bench/results/**'] },
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
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@banger/*/src/*', '@banger/*/gen/*'], message: 'import a package through its entry point, not its internals.' }] },
      ],
    },
  },
  {
    files: ['services/*/src/domain/**/*.ts', 'services/*/src/app/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', domainBans] },
  },
  {
    files: ['**/*.test.ts', 'integration/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
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
