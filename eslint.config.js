// ESLint 9 flat config: @eslint/js recommended and typescript-eslint recommended. Only rules that
// need no type information, so linting the whole tree stays quick on two cores. `npm run lint`;
// `npm test` runs it after the type check.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Node's globals that the plain-JavaScript scripts use (TypeScript files get them from @types/node). */
const nodeGlobals = {
  process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', URLSearchParams: 'readonly',
  setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
  setImmediate: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', fetch: 'readonly',
  AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', performance: 'readonly',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'test-artefacts/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: nodeGlobals },
    rules: {
      // A leading underscore marks a parameter or binding kept for its position or shape
      // (a callback signature, a destructured field left out on purpose).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_',
        caughtErrors: 'none', ignoreRestSiblings: true,
      }],
      // V8's 'l' flag asks for its linear-time engine: core/policy/safe-pattern.ts uses it to refuse
      // list patterns that could backtrack without bound.
      'no-invalid-regexp': ['error', { allowConstructorFlags: ['l'] }],
    },
  },
  {
    // this test asserts the terminal escape sequences (ESC [2K) that the progress line draws
    files: ['test/cli-progress.test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
);
