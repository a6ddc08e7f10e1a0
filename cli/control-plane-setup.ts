// How each rdmq process sets up its control plane from its flags: the
// cluster secret it proves membership with, TLS for gRPC, the refusal of an
// unauthenticated listener off loopback, and UCX kept to the bound device.
import * as fs from 'fs';
import {
  checkListenPlan,
  configureControlPlane,
  ControlTls,
  dataDirSecretFile,
  ensureClusterSecret,
  isLoopbackHost,
  readClusterSecret,
  restrictUcxToHost,
  userSecretFile,
} from '../control-plane';
import { usesSasl } from '../gateway/security/listeners';
import { ConfigError, ServerConfig } from './config';
import { kafkaListenersOf } from './security-config';

export type ServerRole = 'start' | 'storage' | 'broker' | 'gateway';

function readPem(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read --${flag} ${file}: ${(err as Error).message}`);
  }
}

function controlTls(files: { controlTlsCa?: string; controlTlsCert?: string; controlTlsKey?: string }): ControlTls | undefined {
  if ((files.controlTlsCert === undefined) !== (files.controlTlsKey === undefined)) throw new ConfigError('--control-tls-cert and --control-tls-key go together');
  const tls = { ca: readPem('control-tls-ca', files.controlTlsCa), cert: readPem('control-tls-cert', files.controlTlsCert), key: readPem('control-tls-key', files.controlTlsKey) };
  return tls.ca || tls.cert ? tls : undefined;
}

function secretOf(file: string): Buffer {
  try {
    return readClusterSecret(file);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

const hostOf = (address: string): string => address.slice(0, address.lastIndexOf(':'));

/** Each Kafka listener the role opens (`--listeners`, or `--kafka` as PLAINTEXT), by a name for messages, and whether it authenticates its clients. */
function kafkaListenersPlanned(config: ServerConfig): { name: string; address: string; authenticated: boolean }[] {
  return kafkaListenersOf(config).map((l) => ({
    name: config.listeners ? `kafka listener ${l.name}` : 'kafka',
    address: `${l.host}:${l.port}`,
    authenticated: usesSasl(l.protocol) || (l.protocol === 'SSL' && config.tlsClientAuth === 'required'),
  }));
}

/** The addresses the role's UCX transport talks to besides its own: peers it must still reach when UCX is kept to one device. */
function ucxPeers(role: ServerRole, config: ServerConfig): string[] {
  if (role === 'broker') return (config.storage ?? []).map(hostOf);
  if (role === 'gateway') return [hostOf(config.kafka), ...config.control.split(',').map((a) => hostOf(a.trim()))];
  return [];
}

/**
 * Sets this server process's control plane up before it listens: refuses an
 * unauthenticated bind off loopback (unless --allow-insecure), keeps UCX to
 * the fast-path device, and configures TLS and the secret (`rdmq start`'s own
 * secret is adopted later, inside its data directory's lock: useDataDirSecret).
 */
export function setUpServerControlPlane(role: ServerRole, config: ServerConfig): void {
  const tls = controlTls(config);
  if (tls?.cert && !tls.ca && role !== 'storage') throw new ConfigError(`rdmq ${role} with --control-tls-cert needs --control-tls-ca too: it verifies the other members with it`);
  const kafka = role === 'storage' ? [] : kafkaListenersPlanned(config);
  const listeners: Record<string, string> = {
    ...(role === 'gateway' ? {} : { control: config.control, fastpath: config.fastpath }),
    metrics: config.metrics,
    ...Object.fromEntries(kafka.map((l) => [l.name, l.address])),
  };
  checkListenPlan({
    listeners,
    controlTls: Boolean(tls?.cert || (role === 'gateway' && tls?.ca)),
    clusterSecret: config.clusterSecretFile !== undefined || role === 'start',
    kafkaAuthenticated: kafka.every((l) => l.authenticated || isLoopbackHost(hostOf(l.address))),
    allowInsecure: config.allowInsecure,
  });
  const ucxHost = role === 'gateway' ? hostOf(config.kafka) : hostOf(config.fastpath);
  const peers = ucxPeers(role, config);
  // On loopback UCX stays on lo only when every peer is on loopback too.
  if (!isLoopbackHost(ucxHost) || peers.every(isLoopbackHost)) restrictUcxToHost(ucxHost);
  const secretFile = config.clusterSecretFile ?? (role === 'start' ? undefined : userSecretFile());
  const clusterSecret = secretFile === undefined ? undefined : config.clusterSecretFile !== undefined ? secretOf(secretFile) : ensureClusterSecret(secretFile);
  configureControlPlane({ clusterSecret, tls });
}

/** `rdmq start`: the secret beside its data (created, mode 0600, on the first start) unless --cluster-secret-file names one. */
export function useDataDirSecret(config: ServerConfig): void {
  if (config.clusterSecretFile !== undefined) return;
  configureControlPlane({ clusterSecret: ensureClusterSecret(dataDirSecretFile(config.data)), tls: controlTls(config) });
}

/**
 * A CLI command that calls the control plane: the secret from
 * --cluster-secret-file, RDMQ_CLUSTER_SECRET_FILE, ./data's (rdmq start's
 * default) or the user's (roles apart), whichever is found first.
 */
export function setUpClientControlPlane(values: { 'cluster-secret-file'?: string; 'control-tls-ca'?: string; 'control-tls-cert'?: string; 'control-tls-key'?: string }): void {
  const tls = controlTls({ controlTlsCa: values['control-tls-ca'] ?? process.env.RDMQ_CONTROL_TLS_CA, controlTlsCert: values['control-tls-cert'], controlTlsKey: values['control-tls-key'] });
  const named = values['cluster-secret-file'] ?? process.env.RDMQ_CLUSTER_SECRET_FILE;
  const found = named ?? [dataDirSecretFile('./data'), userSecretFile()].find((f) => fs.existsSync(f));
  configureControlPlane({ clusterSecret: found === undefined ? undefined : secretOf(found), tls });
}
