// TypeScript is compiled once by `tsc` into dist/; jest runs that output, so
// tests, the CLI and child processes spawned by tests all execute the same JS.
module.exports = {
  roots: ['<rootDir>/dist'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  // UCX's settings into the real environment before any test loads UCX (addon/testing/jest-ucx-env.ts).
  globalSetup: '<rootDir>/dist/addon/testing/jest-ucx-env.js',
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
};
