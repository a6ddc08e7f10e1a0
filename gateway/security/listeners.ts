// Kafka's listeners: several doors at once, each with its security protocol.
//
//   --listeners PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9094
//   --advertised-listeners SASL_SSL://kafka.example.com:9094
//   --listener-security-protocol-map EXTERNAL:SASL_SSL,INTERNAL:PLAINTEXT
//
// A listener's name is its security protocol unless the map names it. Clients
// are told, in Metadata, the advertised address of the listener they came in
// on (the bound one when none is advertised). TLS comes from PEM files.
import * as fs from 'fs';
import * as tls from 'tls';

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export const SECURITY_PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

export const usesTls = (p: SecurityProtocol): boolean => p === 'SSL' || p === 'SASL_SSL';
export const usesSasl = (p: SecurityProtocol): boolean => p === 'SASL_PLAINTEXT' || p === 'SASL_SSL';

export interface ListenerSpec {
  name: string;
  protocol: SecurityProtocol;
  host: string;
  /** 0 picks a free one. */
  port: number;
  /** What Metadata tells clients of this listener; the bound address when absent. */
  advertisedHost?: string;
  advertisedPort?: number;
}

/** A listener's advertised address as the gateway registry keeps it. */
export interface ListenerAddress {
  name: string;
  host: string;
  port: number;
}

export type ClientAuth = 'none' | 'requested' | 'required';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle client certificates are checked against (mutual TLS). */
  ca?: string;
  clientAuth?: ClientAuth;
}

export class ListenerConfigError extends Error {
  readonly code = 'INVALID_LISTENERS';
  constructor(message: string) {
    super(message);
    this.name = 'ListenerConfigError';
  }
}

const ENTRY = /^([A-Za-z_][A-Za-z0-9_]*):\/\/(\[[^\]]+\]|[^:/\s]*):(\d{1,5})$/;

function parseEntries(text: string, flag: string): { name: string; host: string; port: number }[] {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  if (entries.length === 0) throw new ListenerConfigError(`${flag} names no listener; give NAME://HOST:PORT[,...], e.g. PLAINTEXT://127.0.0.1:9092`);
  const seen = new Set<string>();
  return entries.map((entry) => {
    const m = ENTRY.exec(entry);
    if (!m || Number(m[3]) > 65535) throw new ListenerConfigError(`${flag}: "${entry}" must be NAME://HOST:PORT, e.g. SASL_SSL://0.0.0.0:9094`);
    const name = m[1].toUpperCase();
    if (seen.has(name)) throw new ListenerConfigError(`${flag}: listener ${name} is named twice`);
    seen.add(name);
    return { name, host: m[2].replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[3]) };
  });
}

function parseProtocolMap(text: string | undefined): Map<string, SecurityProtocol> {
  const map = new Map<string, SecurityProtocol>();
  for (const entry of (text ?? '').split(',').map((e) => e.trim()).filter((e) => e.length > 0)) {
    const [name, protocol] = entry.split(':').map((p) => p.trim().toUpperCase());
    if (!name || !SECURITY_PROTOCOLS.includes(protocol as SecurityProtocol)) {
      throw new ListenerConfigError(`--listener-security-protocol-map: "${entry}" must be NAME:PROTOCOL with PROTOCOL one of ${SECURITY_PROTOCOLS.join(', ')}`);
    }
    map.set(name, protocol as SecurityProtocol);
  }
  return map;
}

/** Kafka's listeners, advertised.listeners and listener.security.protocol.map, checked against each other. */
export function parseListeners(listeners: string, advertised?: string, protocolMap?: string): ListenerSpec[] {
  const map = parseProtocolMap(protocolMap);
  const specs = parseEntries(listeners, '--listeners').map((e): ListenerSpec => {
    const protocol = map.get(e.name) ?? (SECURITY_PROTOCOLS.includes(e.name as SecurityProtocol) ? (e.name as SecurityProtocol) : undefined);
    if (!protocol) throw new ListenerConfigError(`--listeners: listener ${e.name} is no security protocol (${SECURITY_PROTOCOLS.join(', ')}); map it with --listener-security-protocol-map ${e.name}:PROTOCOL`);
    return { ...e, protocol };
  });
  if (advertised !== undefined) {
    for (const a of parseEntries(advertised, '--advertised-listeners')) {
      const spec = specs.find((s) => s.name === a.name);
      if (!spec) throw new ListenerConfigError(`--advertised-listeners names ${a.name}, which --listeners does not`);
      if (a.host === '0.0.0.0' || a.host === '::') throw new ListenerConfigError(`--advertised-listeners: ${a.name} must name a host clients can reach, not ${a.host}`);
      spec.advertisedHost = a.host;
      spec.advertisedPort = a.port;
    }
  }
  return specs;
}

/** Reads the PEM files of a TLS listener; a missing or unreadable one is a clear error naming the flag. */
export function loadTls(files: TlsFiles | undefined): tls.TlsOptions {
  if (!files) throw new ListenerConfigError('a TLS listener (SSL, SASL_SSL) needs --tls-cert and --tls-key (PEM files)');
  const read = (flag: string, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ListenerConfigError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const clientAuth = files.clientAuth ?? 'none';
  if (clientAuth !== 'none' && !files.ca) throw new ListenerConfigError(`--tls-client-auth ${clientAuth} needs --tls-ca (the CA client certificates are checked against)`);
  const options: tls.TlsOptions = {
    cert: read('--tls-cert', files.cert),
    key: read('--tls-key', files.key),
    ...(files.ca ? { ca: read('--tls-ca', files.ca) } : {}),
    requestCert: clientAuth !== 'none',
    rejectUnauthorized: clientAuth === 'required',
    minVersion: 'TLSv1.2',
  };
  // Fail now on a key that does not match its certificate or a file that is no PEM, not at the first client.
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new ListenerConfigError(`--tls-cert/--tls-key/--tls-ca: ${(err as Error).message}`);
  }
  return options;
}
