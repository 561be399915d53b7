// Type-aware lint: floating promises and exhaustive switches matter in a task runner.
// Layer rules (no-restricted-imports): imports point down only. protocol/ imports nothing
// outside itself; the contracts (broker/backend/beat-store/worker-registry contracts, the
// registries, the logger) import nothing above them; the core never imports a driver or a
// connections folder; a driver imports its own client's connections folder and the
// contracts, never another driver; each client package is imported only there.
import tseslint from 'typescript-eslint';

/** Which client package each driver or connections folder may import. */
const CLIENT_OF = {
  redis: 'ioredis',
  amqp: 'amqplib',
  rpc: 'amqplib',
  sqlite: 'better-sqlite3',
  postgres: 'pg',
};
/** The connections folder each driver folder shares with its client's other driver. */
const CONNECTIONS_OF = {
  redis: 'redis',
  amqp: 'amqp',
  rpc: 'amqp',
  sqlite: 'sqlite',
  postgres: 'pg',
};
/** The client package a connections folder may import (the client of the drivers sharing it). */
const clientOfConnections = (folder) =>
  CLIENT_OF[Object.keys(CONNECTIONS_OF).find((driver) => CONNECTIONS_OF[driver] === folder)];
const CLIENTS = [...new Set(Object.values(CLIENT_OF))];

const CORE = '(^|/)(app|worker|beat|web|cli|canvas|flow)/';
const ANY_DRIVER = '(^|/)(brokers|backends)/[^/]+/';
const ANY_CONNECTIONS = '(^|/)connections/';

const clientPaths = (allowed = []) =>
  CLIENTS.filter((name) => !allowed.includes(name)).map((name) => ({
    name,
    message:
      'Only its own drivers (brokers/<x>/, backends/<x>/) and connections/<x>/ may import a client package.',
  }));

/** One complete no-restricted-imports setting (a later config block replaces it whole). */
const layer = (regexes, allowedClients = []) => [
  'error',
  {
    paths: clientPaths(allowedClients),
    patterns: regexes.map(([regex, message]) => ({ regex, message })),
  },
];

const coreRules = [
  [
    ANY_DRIVER,
    'The core uses drivers only through the contracts (brokers/broker.ts, backends/backend.ts) and the registries.',
  ],
  [ANY_CONNECTIONS, 'The core never imports connection code: only drivers do.'],
];
const contractRules = [
  [CORE, 'Contracts import nothing above them (no app, worker, beat, web, cli).'],
  ...coreRules.map(([regex]) => [regex, 'Contracts import no driver and no connection code.']),
  ['^\\./[^/]+/', 'Contracts import no driver (a folder beside them).'],
];

/** A driver folder: its own client and connections folder, the contracts, nothing else. */
const driverBlock = (kind, folder) => {
  const other = kind === 'brokers' ? 'backends' : 'brokers';
  const own = CONNECTIONS_OF[folder];
  return {
    files: [`src/${kind}/${folder}/**`],
    rules: {
      'no-restricted-imports': layer(
        [
          [CORE, 'A driver imports nothing above the contracts.'],
          [
            `(^|/)${other}/[^/]+/`,
            'A broker and a backend never import each other: shared code goes to connections/<client>/.',
          ],
          [
            `(^|/)${kind}/(?!${folder}/|key-value/|sql/)[^/]+/`,
            'A driver never imports another driver.',
          ],
          [
            '^\\.\\./(?!\\.\\./|key-value/|sql/)[^/]+/',
            'A driver never imports another driver (backends/key-value/ is the base every key-value backend builds on, brokers/sql/ every SQL broker).',
          ],
          [
            own ? `(^|/)connections/(?!${own}/)` : ANY_CONNECTIONS,
            "A driver imports only its own client's connections folder.",
          ],
        ],
        CLIENT_OF[folder] ? [CLIENT_OF[folder]] : [],
      ),
    },
  };
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '**/*.js', '**/*.mjs', '.prof/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': layer([]),
    },
  },
  // The core: app, worker, beat, web, cli (and canvas, flow when they come).
  {
    files: ['src/{app,worker,beat,web,cli,canvas,flow}/**'],
    rules: { 'no-restricted-imports': layer(coreRules) },
  },
  {
    files: ['src/protocol/**'],
    rules: {
      'no-restricted-imports': layer([['^\\.\\./', 'protocol/ imports nothing outside itself.']]),
    },
  },
  {
    files: [
      'src/brokers/broker.ts',
      'src/brokers/exchange-routing.ts',
      'src/brokers/registry.ts',
      'src/backends/{backend,beat-store,worker-registry,stored-schedule,registry,task-listing}.ts',
      'src/logger.ts',
      'src/errors.ts',
      'src/url.ts',
    ],
    rules: { 'no-restricted-imports': layer(contractRules) },
  },
  // Drivers without a client of their own (e.g. memory://): contracts only.
  ...['brokers', 'backends'].map((kind) => ({
    files: [`src/${kind}/*/**`],
    rules: {
      'no-restricted-imports': layer([
        [CORE, 'A driver imports nothing above the contracts.'],
        [
          `(^|/)${kind === 'brokers' ? 'backends' : 'brokers'}/[^/]+/`,
          'A broker and a backend never import each other.',
        ],
        [ANY_CONNECTIONS, 'A driver without a client imports no connection code.'],
        [
          '^\\.\\./(?!\\.\\./|key-value/|sql/)[^/]+/',
          'A driver never imports another driver (backends/key-value/ is the base every key-value backend builds on, brokers/sql/ every SQL broker).',
        ],
      ]),
    },
  })),
  ...Object.keys(CLIENT_OF).flatMap((folder) => [
    driverBlock('brokers', folder),
    driverBlock('backends', folder),
  ]),
  // connections/<client>/: its client only; never a driver, the core, or another client's folder.
  ...[...new Set(Object.values(CONNECTIONS_OF))].map((folder) => ({
    files: [`src/connections/${folder}/**`],
    rules: {
      'no-restricted-imports': layer(
        [
          [CORE, 'Connection code imports nothing above the contracts.'],
          [ANY_DRIVER, 'Connection code never imports a driver: drivers import it.'],
          [
            `(^|/)connections/(?!${folder}/)`,
            "One client's connection code never imports another's.",
          ],
          [
            `^\\.\\./(?!\\.\\./|${folder}/)`,
            "One client's connection code never imports another's.",
          ],
        ],
        [clientOfConnections(folder)],
      ),
    },
  })),
  {
    // Tests, benches and examples reach into any layer on purpose; the entry points re-export drivers.
    files: [
      'test/**',
      'bench/**',
      'examples/**',
      'scripts/**',
      'src/index.ts',
      'src/redis.ts',
      'src/amqp.ts',
      'src/sqlite.ts',
      'src/postgres.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Type tests hand methods to expectTypeOf without calling them.
    files: ['test/**/*.test-d.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
