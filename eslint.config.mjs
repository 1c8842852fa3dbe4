import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

/**
 * Nx module boundaries. `testing` (a test database, service processes, polling) is for tests
 * only; integration specs (`*.int.spec.ts`) of apps and libraries may use it too, `withTesting`.
 */
function moduleBoundaries({ withTesting = false } = {}) {
  const testing = withTesting ? ['type:testing'] : [];
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      depConstraints: [
        {
          sourceTag: 'type:app',
          onlyDependOnLibsWithTags: [
            ...testing,
            'type:feature',
            'type:data-access',
            'type:util',
            'type:contracts',
          ],
        },
        {
          sourceTag: 'type:e2e',
          onlyDependOnLibsWithTags: [
            'type:testing',
            'type:feature',
            'type:data-access',
            'type:util',
            'type:contracts',
          ],
        },
        {
          sourceTag: 'type:testing',
          onlyDependOnLibsWithTags: ['type:data-access', 'type:util', 'type:contracts'],
        },
        {
          sourceTag: 'type:feature',
          onlyDependOnLibsWithTags: [...testing, 'type:data-access', 'type:util', 'type:contracts'],
        },
        {
          sourceTag: 'type:data-access',
          onlyDependOnLibsWithTags: [...testing, 'type:util', 'type:contracts'],
        },
        { sourceTag: 'type:util', onlyDependOnLibsWithTags: [...testing, 'type:util', 'type:contracts'] },
        { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
      ],
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.nx/**', 'tmp/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
      '@nx/enforce-module-boundaries': moduleBoundaries(),
    },
  },
  {
    // NestJS decorators rely on runtime class references in constructor parameters.
    files: ['apps/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['**/*.int.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': moduleBoundaries({ withTesting: true }) },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e.ts', 'libs/testing/**/*.ts', 'e2e/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { ...globals.node },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'off' },
  },
  prettier,
);
