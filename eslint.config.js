// Type-aware lint: floating promises and exhaustive switches matter in a task runner.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '**/*.js', '**/*.mjs', '.prof/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { paths: ['ioredis', 'amqplib', 'better-sqlite3', 'pg'].map((name) => ({ name, message: 'Only its own brokers/<name>/ or backends/<name>/ folder may import a broker client.' })) },
      ],
    },
  },
  {
    files: ['src/brokers/**', 'src/backends/**', 'test/**', 'bench/**', 'examples/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Type tests hand methods to expectTypeOf without calling them.
    files: ['test/**/*.test-d.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off', '@typescript-eslint/require-await': 'off' },
  },
);
