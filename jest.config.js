// TypeScript is compiled once by `tsc` into dist/; jest runs that output, so
// tests, the CLI and child processes spawned by tests all execute the same JS.
module.exports = {
  roots: ['<rootDir>/dist'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
};
