// What an attacker on the control plane holds: the public .proto files, a
// gRPC library, maybe the CA's certificate (it is public) and maybe a secret
// of its own — never the cluster's. Calls are made exactly as any gRPC
// client would make them, without rdmq's client code.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { PROOF_METADATA_KEY, proveMembership, protoService } from '../../control-plane';

const ROOT = path.join(__dirname, '..', '..', '..');
export const PROTO = {
  storage: path.join(ROOT, 'storage-node', 'storage.proto'),
  broker: path.join(ROOT, 'broker', 'broker.proto'),
  gateway: path.join(ROOT, 'gateway', 'gateway.proto'),
};

export interface StrangerOptions {
  /** PEM of the CA to trust (TLS); plaintext without it. */
  ca?: Buffer;
  /** A secret to prove with (not the cluster's, unless a test says so). */
  secret?: Buffer;
}

/** A client of `service` (e.g. 'rdmq.storage.v1.StorageNode') built from the .proto file, as a stranger would. */
export function strangerClient(protoFile: string, service: string, address: string, options: StrangerOptions = {}): grpc.Client {
  const Client = protoService(protoFile, service);
  const interceptor: grpc.Interceptor = (o, next) =>
    new grpc.InterceptingCall(next(o), {
      start: (metadata, listener, go) => {
        if (options.secret) metadata.set(PROOF_METADATA_KEY, proveMembership(options.secret, o.method_definition.path));
        go(metadata, listener);
      },
    });
  return new Client(address, options.ca ? grpc.credentials.createSsl(options.ca) : grpc.credentials.createInsecure(), { interceptors: [interceptor] });
}

/** One unary call; resolves with the error (or undefined) and the answer. */
export function callOnce(client: grpc.Client, method: string, request: object, deadlineMs = 10_000): Promise<{ error?: grpc.ServiceError; answer?: unknown }> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => void>)[method];
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (error, answer) => resolve({ error: error ?? undefined, answer }));
  });
}

export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
}

/** A CA and a server certificate for 127.0.0.1 and localhost it signed, made with the openssl CLI in `dir`. */
export function makeCertificates(dir: string, name = 'rdmq-test'): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  const at = (f: string): string => path.join(dir, f);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', `/CN=${name}-ca`);
  openssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('ext.cnf'));
  fs.chmodSync(at('server.key'), 0o600);
  return { dir, caFile: at('ca.pem'), certFile: at('server.pem'), keyFile: at('server.key'), ca: fs.readFileSync(at('ca.pem')) };
}

/** A Kafka request frame (no size prefix): header v1 then `body`. */
export function kafkaFrame(apiKey: number, apiVersion: number, body: Buffer): Buffer {
  const clientId = Buffer.from('stranger');
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(7, 4);
  header.writeInt16BE(clientId.length, 8);
  return Buffer.concat([header, clientId, body]);
}

/** DeleteTopics v0: one topic, timeout 5 s. */
export function deleteTopicsFrame(topic: string): Buffer {
  const name = Buffer.from(topic);
  const body = Buffer.alloc(4 + 2 + name.length + 4);
  body.writeInt32BE(1, 0);
  body.writeInt16BE(name.length, 4);
  name.copy(body, 6);
  body.writeInt32BE(5000, 6 + name.length);
  return kafkaFrame(20, 0, body);
}

/** The addresses (host:port) `pid` listens on, TCP and UDP, from `ss`. */
export function listeningAddresses(pid: number): string[] {
  const out = execFileSync('ss', ['-H', '-l', '-t', '-u', '-n', '-p'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[4]);
}
