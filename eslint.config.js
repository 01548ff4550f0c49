// ESLint flat config: typescript-eslint's recommended rules, type-aware (they read the
// project's tsconfig.json). `npm run lint`; .ci/run runs it. A rule is turned off here
// only with a one-line reason.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'wasm/target/**', 'reports/**', 'net/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // async functions without await are how this code meets promise-returning contracts
      // (fastify handlers, LearningContext hooks, bench run()); the contract is the point
      '@typescript-eslint/require-await': 'off',
      // a leading underscore marks a deliberately unused binding (e.g. a field dropped by rest destructuring)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // rethrowing a caught value as it was is deliberate (the original error keeps its class and stack)
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tests read untyped JSON (inject().json(), JSON.parse) and assert on it directly
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // tests hand methods to expect() and spies without calling them
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
)
