// ESLint flat config: typescript-eslint's type-aware recommended rules for every TypeScript
// file, with formatting left to Prettier (eslint-config-prettier turns style rules off).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The task's floors (task/src), top to bottom: cli.ts → commands/ → config/, backup/, restore/
 * (side by side) → archive/ → storage/, postgres/, notify/ (side by side) → errors, log, child,
 * version → contract/. notify/ (pings, webhooks, the metrics file) is called by the commands
 * and read by config/ for its types; it knows nothing of backups beyond the outcomes it is given. A file may import its own folder and the floors below, never a floor above or a
 * room beside it on its floor: for each folder, the folders it must not import.
 */
const TASK_FLOORS = {
  'task/src/commands/**': ['cli'],
  'task/src/config/**': ['cli', 'commands', 'backup', 'restore', 'archive'],
  'task/src/backup/**': ['cli', 'commands', 'config', 'restore'],
  'task/src/restore/**': ['cli', 'commands', 'config', 'backup'],
  'task/src/archive/**': ['cli', 'commands', 'config', 'backup', 'restore'],
  'task/src/storage/**': ['cli', 'commands', 'config', 'backup', 'restore', 'archive', 'postgres', 'notify'],
  'task/src/postgres/**': ['cli', 'commands', 'config', 'backup', 'restore', 'archive', 'storage', 'notify'],
  'task/src/notify/**': ['cli', 'commands', 'config', 'backup', 'restore', 'archive', 'storage', 'postgres'],
  'task/src/{errors,log,child,version}.ts': ['cli', 'commands', 'config', 'backup', 'restore', 'archive', 'storage', 'postgres', 'notify'],
  'task/src/contract/**': [
    'cli',
    'commands',
    'config',
    'backup',
    'restore',
    'archive',
    'storage',
    'postgres',
    'notify',
    'errors',
    'log',
    'child',
    'version',
  ],
};
const floorRules = Object.entries(TASK_FLOORS).map(([files, above]) => ({
  files: [files],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: above.map((room) => ({
          group: [`**/${room}`, `**/${room}/**`, `./${room}`, `./${room}/**`],
          message: `task/src imports run downward only: this floor must not import ${room} (see TASK_FLOORS in eslint.config.mjs).`,
        })),
      },
    ],
  },
}));

/**
 * The stack's boundary (lib/, bin/): synth-time code reaches the task only through
 * task/src/contract (pure values and types), so nothing that spawns a process or touches the
 * network enters the synth-time graph.
 */
const stackBoundaryRule = {
  files: ['lib/**', 'bin/**'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: '(^|/)task/src(/(?!contract(/|$))|$)',
            message: 'lib/ and bin/ import the task only through task/src/contract (pure values and types): move what you need there.',
          },
        ],
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'task/dist/', 'coverage/', '.bench-cache/', 'bench-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused parameters are a compile error (tsconfig noUnusedParameters); `_x` marks deliberate ones.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Floating promises lose errors: every promise is awaited, returned or explicitly voided.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'off',
    },
  },
  {
    // Tests read untyped JSON (manifests, log lines, CloudFormation templates) whose shape
    // they then assert; typing every template path would add noise, not safety.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // Plain JavaScript (build script, jest config and reporters) is not in the TypeScript project.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: { ...globals.node },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
  ...floorRules,
  stackBoundaryRule,
  prettier,
);
