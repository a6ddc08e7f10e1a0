// Shared helpers of the security tests: test certificates made with the
// openssl CLI in a temporary directory (a CA, a server certificate for
// 127.0.0.1/localhost, a client certificate per CN), users created with
// `rdmq users`, and the SASL/TLS options of kafkajs and kcat.
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TestCertificates {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the CA, subject CN=`clientName`. */
  clientCert: string;
  clientKey: string;
  clientName: string;
  /** Removes the directory. */
  remove(): void;
}

const openssl = (dir: string, args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** A throwaway CA with one server and one client certificate (EC P-256: quick to make). */
export function makeCertificates(clientName = 'alice'): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-tls-'));
  const key = (name: string) => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name]);
  key('ca.key');
  openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=rdmq-test-ca', '-days', '2', '-out', 'ca.pem']);
  const signed = (name: string, subject: string, extensions: string) => {
    key(`${name}.key`);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  };
  signed('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', `/CN=${clientName}`, 'extendedKeyUsage=clientAuth\n');
  const at = (name: string) => path.join(dir, name);
  return {
    dir,
    caCert: at('ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    clientName,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** The server flags of a TLS listener with these certificates. */
export function tlsFlags(certs: TestCertificates, clientAuth?: 'requested' | 'required'): string[] {
  return ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, ...(clientAuth ? ['--tls-ca', certs.caCert, '--tls-client-auth', clientAuth] : [])];
}

const MAIN = path.join(__dirname, '..', '..', 'cli', 'main.js');

/** Runs the rdmq CLI; resolves with its output and exit code (never rejects on a non-zero exit). */
export function rdmq(args: string[], input?: string, timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, ...args], { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** `rdmq users create`; throws with its stderr when it fails. */
/** Creates a user through `rdmq users`, proving the cluster secret of `rdmq start` (the Users service serves members only). */
export async function createUser(cluster: { control: string; clusterSecretFile: string }, user: string, password: string, extra: string[] = []): Promise<void> {
  const run = await rdmq(['users', 'create', user, '--password', password, '--control', cluster.control, '--cluster-secret-file', cluster.clusterSecretFile, ...extra]);
  if (run.code !== 0) throw new Error(`rdmq users create ${user} failed (${run.code}): ${run.stderr}`);
}

/** kcat's options for a SASL_SSL (or SASL_PLAINTEXT without `ca`) listener. */
export function kcatSasl(mechanism: string, user: string, password: string, ca?: string): string[] {
  return [
    '-X', `security.protocol=${ca ? 'SASL_SSL' : 'SASL_PLAINTEXT'}`,
    '-X', `sasl.mechanisms=${mechanism}`,
    '-X', `sasl.username=${user}`,
    '-X', `sasl.password=${password}`,
    ...(ca ? ['-X', `ssl.ca.location=${ca}`] : []),
  ];
}

/**
 * A Kafka connection speaking raw frames through the gateway's own codec:
 * for what kafkajs cannot send (Describe/AlterUserScramCredentials) and for
 * exact error codes. Requests go one at a time.
 */
export class RawKafka {
  private buffered = Buffer.alloc(0);
  private waiting: { resolve(frame: Buffer): void; reject(err: Error): void } | undefined;
  private nextCorrelationId = 1;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: import('net').Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.waiting?.reject(new Error('the server closed the connection'));
        this.waiting = undefined;
        resolve();
      }),
    );
    socket.on('error', () => undefined);
  }

  static connect(address: string, tlsOptions?: import('tls').ConnectionOptions): Promise<RawKafka> {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at);
    const port = Number(address.slice(at + 1));
    return new Promise((resolve, reject) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const socket: import('net').Socket = tlsOptions ? require('tls').connect({ host, port, ...tlsOptions }) : require('net').connect(port, host);
      socket.once(tlsOptions ? 'secureConnect' : 'connect', () => resolve(new RawKafka(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one request; resolves with the decoded response body, rejects when the connection closes first. */
  async call<T = Record<string, unknown>>(apiName: string, apiVersion: number, body: object): Promise<T> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protocol = require('../../gateway/protocol') as typeof import('../../gateway/protocol');
    const apiKey = (protocol.apiKeys as Record<string, number>)[apiName];
    const correlationId = this.nextCorrelationId++;
    const frame = new Promise<Buffer>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.socket.write(protocol.encodeRequest({ apiKey, apiVersion, correlationId, clientId: 'rdmq-test' }, body));
    return protocol.decodeResponse(apiKey, apiVersion, await frame).body as T;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (this.buffered.length < 4) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    this.waiting?.resolve(frame);
    this.waiting = undefined;
  }
}
