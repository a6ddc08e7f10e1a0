// Go programs of the compat tests (compat-tests/go/*.go), built with Debian's
// Go toolchain over its packaged sources (sarama included), with no network.
import { execFile } from 'child_process';
import * as os from 'os';
import * as path from 'path';

/** Runs `file` with `args`; resolves to its stdout, rejects with its stderr. */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

/** Builds compat-tests/go/NAME.go into `dir`; returns the binary's path. */
export function buildGoProgram(name: string, dir: string): Promise<string> {
  return buildGoSource(path.join(__dirname, '..', '..', '..', 'compat-tests', 'go', `${name}.go`), dir);
}

/** Builds one Go source file (package main, standard library and Debian's packaged sources) into `dir`; returns the binary's path. */
export async function buildGoSource(source: string, dir: string): Promise<string> {
  const binary = path.join(dir, path.basename(source, '.go'));
  // GOPATH mode over Debian's packaged sources; the build cache outlives the test so later runs are quick.
  await run('/usr/bin/go', ['build', '-o', binary, source], {
    GO111MODULE: 'off',
    GOPATH: '/usr/share/gocode',
    GOCACHE: path.join(os.tmpdir(), 'rdmq-gocache'),
    GOFLAGS: '',
  });
  return binary;
}
