// Where a role may listen, and how UCX is kept to that address.
//
// Secure by default: a listener off loopback needs the control plane
// authenticated (TLS and the cluster secret) and the Kafka door
// authenticated (SASL or TLS), unless the operator says --allow-insecure.
// UCX opens TCP listeners of its own on every network device; it is told to
// use only the device holding the fast-path address (and the RDMA devices,
// which listen on no socket).
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1';
}

export class InsecureListenError extends Error {
  readonly code = 'ERR_INSECURE_LISTEN';
  constructor(message: string) {
    super(message);
    this.name = 'InsecureListenError';
  }
}

export interface ListenPlan {
  /** flag name → HOST:PORT of each listener the role opens (Kafka listeners under names starting with `kafka`). */
  listeners: Record<string, string>;
  controlTls: boolean;
  clusterSecret: boolean;
  /** Whether every Kafka listener off loopback authenticates its clients (SASL, or TLS with client certificates required). */
  kafkaAuthenticated: boolean;
  allowInsecure: boolean;
}

/** Throws InsecureListenError naming each listener off loopback that lacks authentication, and what to add. */
export function checkListenPlan(plan: ListenPlan): void {
  if (plan.allowInsecure) return;
  const outside = Object.entries(plan.listeners).filter(([, address]) => !isLoopbackHost(address.slice(0, address.lastIndexOf(':'))));
  if (outside.length === 0) return;
  const missing: string[] = [];
  if (!plan.controlTls) missing.push('TLS on the control plane (--control-tls-cert, --control-tls-key and --control-tls-ca)');
  if (!plan.clusterSecret) missing.push('the cluster secret (--cluster-secret-file)');
  if (outside.some(([flag]) => flag.startsWith('kafka')) && !plan.kafkaAuthenticated) {
    missing.push('an authenticated Kafka listener (SASL or TLS)');
  }
  if (missing.length === 0) return;
  const where = outside.map(([flag, address]) => `--${flag} ${address}`).join(', ');
  throw new InsecureListenError(`refusing to listen off loopback (${where}) without ${missing.join(' and ')}; add them, or pass --allow-insecure to run unauthenticated on purpose`);
}

/** The network device that holds `host` (an IP address), or undefined for a wildcard or an address of no device here. */
export function deviceOf(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === '0.0.0.0' || bare === '::') return undefined;
  if (isLoopbackHost(bare)) return Object.entries(os.networkInterfaces()).find(([, addrs]) => addrs?.some((a) => a.internal))?.[0] ?? 'lo';
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (addrs?.some((a) => a.address === bare)) return name;
  }
  return undefined;
}

/** RDMA ports as UCX names them (mlx5_0:1): they listen on no socket, so keeping them costs no exposure. */
function rdmaDevices(): string[] {
  const root = '/sys/class/infiniband';
  try {
    return fs.readdirSync(root).flatMap((dev) => fs.readdirSync(`${root}/${dev}/ports`).map((port) => `${dev}:${port}`));
  } catch {
    return [];
  }
}

/**
 * Keeps UCX's own TCP listeners on the device of the fast-path address (UCX
 * reads UCX_NET_DEVICES when its context is made, so call before the first
 * Transport). An operator's own UCX_NET_DEVICES wins; a wildcard address
 * leaves UCX on every device, as asked.
 */
export function restrictUcxToHost(host: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.UCX_NET_DEVICES !== undefined) return;
  const device = deviceOf(host);
  if (device === undefined) return;
  env.UCX_NET_DEVICES = [device, ...rdmaDevices()].join(',');
}
