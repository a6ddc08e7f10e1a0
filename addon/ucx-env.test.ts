// The process that runs a test file loads UCX (through the SDK or the addon's
// own tests) with rdmq's UCX settings in its real environment, which a child
// process inherits — not only in the copy of process.env jest hands the test.
import { execFileSync } from 'child_process';
import { UCX_DEFAULTS } from './ucx-env';

describe('UCX settings in test processes', () => {
  it('are in the real environment of the process that runs the tests', () => {
    const names = Object.keys(UCX_DEFAULTS);
    const script = names.map((n) => `printf '%s=%s\\n' ${n} "\${${n}-<unset>}"`).join('; ');
    const seen = execFileSync('/bin/sh', ['-c', script]).toString().trim().split('\n');
    expect(seen).toEqual(names.map((n) => `${n}=${UCX_DEFAULTS[n]}`));
  });
});
