// The SDK as a user gets it: a fresh project installs rdmq from this checkout's
// path (npm links the folder; its dependencies are the checkout's own, so no
// download), then runs the README's SDK snippet exactly as written — as an ESM
// `.mjs`, as a CommonJS `.js` (the snippet's commented `require` line in place
// of its `import`), and as a `.ts` compiled by tsc --strict — against a real
// `rdmq start`. The snippet produces a record and reads it back through a
// consumer group, so each run produces and consumes for real.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { ClusterProcess, startCluster } from '../bench/cluster';

const run = promisify(execFile);
const REPO = path.join(__dirname, '..', '..');
const TSC = path.join(REPO, 'node_modules', '.bin', 'tsc');

/** The first ```ts block under "### The fast-path SDK" in README.md. */
function readmeSnippet(): string {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### The fast-path SDK'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md has no ```ts block under "### The fast-path SDK"');
  return match[1];
}

/** The snippet for CommonJS: its `// CommonJS: ...` line instead of the import. */
function asCommonJs(snippet: string): string {
  const requireLine = /^\/\/ CommonJS: (.*)$/m.exec(snippet);
  if (!requireLine) throw new Error('the README snippet has no "// CommonJS: ..." line');
  return snippet.replace(/^import .* from 'rdmq';$/m, requireLine[1]);
}

describe('the rdmq package, installed from its path', () => {
  let cluster: ClusterProcess;
  let project: string;

  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '4M' });
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-user-'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'rdmq-user', private: true }));
    // --ignore-scripts: the install script builds the addon, which the checkout has built already.
    await run('npm', ['install', REPO, '--no-save', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: project, timeout: 120_000 });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  async function runSnippet(file: string): Promise<string> {
    const { stdout } = await run(process.execPath, [file], { cwd: project, env: { ...process.env, RDMQ_CONTROL: cluster.control }, timeout: 60_000 });
    return stdout;
  }

  it('ESM and CommonJS importers get the same exports', async () => {
    const names = async (code: string, type: 'module' | 'commonjs') => {
      const { stdout } = await run(process.execPath, ['--input-type', type, '-e', code], { cwd: project });
      return JSON.parse(stdout) as string[];
    };
    const esm = await names("import * as m from 'rdmq'; console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()))", 'module');
    const cjs = await names("console.log(JSON.stringify(Object.keys(require('rdmq')).sort()))", 'commonjs');
    expect(esm).toEqual(cjs);
    expect(cjs).toEqual(expect.arrayContaining(['Rdmq', 'RdmqError', 'GroupConsumer']));
  });

  it("runs the README's snippet as an ESM .mjs", async () => {
    fs.writeFileSync(path.join(project, 'snippet.mjs'), readmeSnippet());
    expect(await runSnippet('snippet.mjs')).toMatch(/^\d+ \d+ user-1 clicked$/m);
  }, 90_000);

  it("runs the README's snippet as a CommonJS .js", async () => {
    fs.writeFileSync(path.join(project, 'snippet.js'), asCommonJs(readmeSnippet()));
    expect(await runSnippet('snippet.js')).toMatch(/^\d+ \d+ user-1 clicked$/m);
  }, 90_000);

  it("runs the README's snippet as TypeScript compiled with tsc --strict", async () => {
    fs.mkdirSync(path.join(project, 'ts'), { recursive: true });
    fs.writeFileSync(path.join(project, 'ts', 'snippet.ts'), readmeSnippet());
    // Node's types as a user's project has them (@types/node); rdmq's own come with the package.
    const common = ['--strict', '--target', 'es2022', '--skipLibCheck', '--typeRoots', path.join(REPO, 'node_modules', '@types'), '--types', 'node'];
    // Old-style resolution (the package's "types") and Node's (its "exports"), which current projects use.
    await run(TSC, [...common, '--module', 'commonjs', '--moduleResolution', 'node10', '--noEmit', 'ts/snippet.ts'], { cwd: project }).catch((err: { stdout: string }) => {
      throw new Error(`tsc (node10 resolution) failed:\n${err.stdout}`);
    });
    await run(TSC, [...common, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--outDir', 'ts-out', 'ts/snippet.ts'], { cwd: project }).catch((err: { stdout: string }) => {
      throw new Error(`tsc (nodenext resolution) failed:\n${err.stdout}`);
    });
    expect(await runSnippet(path.join('ts-out', 'snippet.js'))).toMatch(/^\d+ \d+ user-1 clicked$/m);
  }, 120_000);
});
