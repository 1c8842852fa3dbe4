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

/** Tests and the CLI's stand-in API (apps/cli/test) may state wire values as they see them. */
const TESTS = ['**/*.spec.ts', '**/*.e2e.ts', '**/*.tools.ts', 'apps/*/test/**'];

/** A UUID is checked by isUuid (@switchyard/contracts), not by another regular expression. */
const NO_UUID_REGEX = {
  selector: String.raw`Literal[regex.pattern=/\{36\}|\{8\}-/]`,
  message: 'Check ids with isUuid from @switchyard/contracts instead of a regular expression.',
};

/**
 * Apps speak to PostgreSQL and RabbitMQ through the libraries: persistence turns database errors
 * into typed errors, messaging builds every exchange, queue and event name from AMQP_PREFIX.
 */
const APP_BOUNDARIES = [
  {
    // SQLSTATE classes 08 (connection), 23 (constraint), 40 (rollback), 42 (syntax/schema),
    // 53 (resources), 57 (operator intervention), as string literals only (raw starts with a quote).
    selector: String.raw`Literal[raw=/^['"](08|23|40|42|53|57)[0-9A-Z]{3}['"]$/]`,
    message: 'SQL state codes stay in @switchyard/persistence; catch its typed errors instead.',
  },
  {
    selector: String.raw`TemplateElement[value.raw=/^(08|23|40|42|53|57)[0-9A-Z]{3}$/]`,
    message: 'SQL state codes stay in @switchyard/persistence; catch its typed errors instead.',
  },
  {
    selector: "MemberExpression[property.name='constraint']",
    message: 'Constraint names stay in @switchyard/persistence; catch its typed errors instead.',
  },
  {
    // The prefix is handed to the messaging client (`prefix: config.AMQP_PREFIX`) and nowhere else.
    selector:
      "MemberExpression[property.name='AMQP_PREFIX']:not(Property[key.name='prefix'] > MemberExpression):not(CallExpression[callee.name='amqpNames'] > MemberExpression)",
    message:
      'AMQP names are built by @switchyard/messaging (amqpNames()); pass AMQP_PREFIX as `prefix` or to amqpNames() only.',
  },
  {
    selector: String.raw`Literal[value=/^switchyard\./]`,
    message: 'Wire names (event types, exchanges, queues) come from @switchyard/contracts or messaging.',
  },
  {
    selector: String.raw`TemplateLiteral > TemplateElement:first-child[value.raw=/^switchyard\./]`,
    message: 'Wire names (event types, exchanges, queues) come from @switchyard/contracts or messaging.',
  },
];

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
    files: ['apps/**/*.ts'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['pg', 'pg/*', 'pg-*'],
              message: 'Apps reach PostgreSQL through @switchyard/persistence repositories.',
            },
          ],
        },
      ],
      'no-restricted-syntax': ['error', ...APP_BOUNDARIES, NO_UUID_REGEX],
    },
  },
  {
    files: ['libs/**/*.ts'],
    ignores: [...TESTS, 'libs/contracts/**', 'libs/testing/**'],
    rules: { 'no-restricted-syntax': ['error', NO_UUID_REGEX] },
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
