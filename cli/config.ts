// Every setting rdmq takes, validated with zod. Flags override a JSON config
// file (--config FILE); a bad value is one line naming the setting and what is
// allowed, never a stack trace.
import * as fs from 'fs';
import { z } from 'zod';
import * as path from 'path';
import { formatSize, parseSize } from '../bench/sizes';
import { SEGMENT_SIZE_BYTES_MAX } from '../storage-node';
import { GatewayLimitsSchema, parseGatewayLimits } from '../gateway';

const hostPort = z
  .string()
  .regex(/^[^:\s]+:\d{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:7400')
  .refine((v) => Number(v.split(':')[1]) <= 65535, 'port must be 0..65535');

/** A byte size ("64M", 1048576); with `zeroAllowed`, also 0 (a feature turned off). */
const size = (label: string, zeroAllowed = false) =>
  z.union([zeroAllowed ? z.number().int().nonnegative() : z.number().int().positive(), z.string()]).transform((v, ctx) => {
    if (typeof v === 'number') return v;
    if (zeroAllowed && v.trim() === '0') return 0;
    try {
      return parseSize(v);
    } catch (err) {
      // parseSize says `size "0" must be ...`: name which size instead.
      ctx.addIssue({ code: 'custom', message: `${label} ${(err as Error).message.replace(/^size /, '')}` });
      return z.NEVER;
    }
  });

/** Several HOST:PORT, comma-separated (a gateway's view of an HA broker group). */
const hostPortList = z
  .string()
  .refine((v) => v.split(',').every((a) => hostPort.safeParse(a.trim()).success), 'must be HOST:PORT or a comma-separated list of them, e.g. 127.0.0.1:7400,127.0.0.1:7500');

const etcdUrls = z
  .string()
  .transform((v) => v.split(',').map((u) => u.trim()).filter((u) => u.length > 0))
  .refine((urls) => urls.length > 0 && urls.every((u) => /^https?:\/\/[^\s/:]+:\d{1,5}\/?$/.test(u)), 'must be http://HOST:PORT or a comma-separated list of them');

/** Every gateway limit (gateway/config.ts) is a setting of its own, --max-frame-bytes for maxFrameBytes; the gateway's defaults apply when unset. */
const GATEWAY_LIMIT_KEYS = Object.keys(GatewayLimitsSchema.shape) as (keyof typeof GatewayLimitsSchema.shape)[];

function gatewayLimitSettings() {
  const words = (key: string): string => key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
  return Object.fromEntries(
    GATEWAY_LIMIT_KEYS.map((key) => [key, (key.endsWith('Bytes') ? size(words(key)) : z.coerce.number().int()).optional()]),
  ) as unknown as Record<(typeof GATEWAY_LIMIT_KEYS)[number], z.ZodOptional<z.ZodType<number, unknown>>>;
}

/** The flag of a setting, as typed: regionSize is --region-size. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The command-line flags of the gateway limits, for parseArgs. */
export const GATEWAY_LIMIT_FLAGS = GATEWAY_LIMIT_KEYS.map((key) => flagOf(key).slice(2));

export const ServerConfigSchema = z
  .object({
    data: z.string().min(1).default('./data'),
    /** The control address to listen on; for `rdmq gateway`, the broker's (an HA group's: A,B). */
    control: hostPortList.default('127.0.0.1:7400'),
    /** etcd endpoints: `rdmq broker` joins the HA broker group kept there (leader election, metadata). */
    etcd: etcdUrls.optional(),
    /** Key prefix of the broker group in etcd. */
    etcdPrefix: z.string().regex(/^\/[\w./-]*$/, 'must start with / and hold only letters, digits and . _ - /').default('/rdmq'),
    /** Seconds a leader's etcd lease lives without renewal: a dead leader is replaced after about this long. */
    etcdLeaseTtl: z.coerce.number().int().min(1).max(60).default(3),
    fastpath: hostPort.default('127.0.0.1:7401'),
    /** `rdmq storage`: the TCP port of its commit socket on the control host (0: one the system picks, told to the broker). */
    commitPort: z.coerce.number().int().min(0).max(65535).default(0),
    kafka: hostPort.default('127.0.0.1:9092'),
    metrics: hostPort.default('127.0.0.1:9464'),
    durability: z.enum(['none', 'flush', 'sync']).default('flush'),
    verify: z.enum(['crc', 'framing']).default('crc'),
    /** Fault the whole region in when the storage node opens it (startup takes longer; no write or read pays a first touch later). */
    prefaultRegion: z.preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('false')).transform((v) => v === 'true'),
    regionSize: size('region size').default(4 * 1024 ** 3),
    /** Bytes per second the storage node's background scrubber checks committed batches again (0: off). */
    scrubRate: size('scrub rate', true).default(16 * 1024 ** 2),
    segmentSize: size('segment size').default(64 * 1024 ** 2),
    leaseTimeoutMs: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
    retentionCheckMs: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
    /** Kafka's group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members. */
    groupInitialRebalanceDelayMs: z.coerce.number().int().min(0).max(300_000).default(3_000),
    /** The storage nodes' control addresses, comma-separated: one, or several for replication. */
    storage: z
      .string()
      .transform((v) => v.split(',').map((a) => a.trim()).filter((a) => a.length > 0))
      .pipe(z.array(hostPort).min(1, 'needs at least one HOST:PORT'))
      .optional(),
    /** Kafka's default.replication.factor: copies of each segment for topics created without one (at most the storage nodes). */
    defaultReplicationFactor: z.coerce.number().int().min(1).max(255).default(1),
    /** Create an unknown topic a Kafka client's Metadata request names (Kafka: auto.create.topics.enable). */
    autoCreateTopics: z
      .preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('true'))
      .transform((v) => v === 'true'),
    /** Kafka's super.users: principals (User:NAME) allowed everything, comma-separated. */
    superUsers: z
      .string()
      .transform((v) => v.split(',').map((p) => p.trim()).filter((p) => p.length > 0))
      .pipe(z.array(z.string().regex(/^[A-Za-z][\w-]*:.+$/, "each must be a principal such as 'User:admin'")))
      .default([]),
    /** Kafka's allow.everyone.if.no.acl.found: a resource without any ACL is open to everyone (default true, so `rdmq start` works with no set-up). */
    allowEveryoneIfNoAclFound: z
      .preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('true'))
      .transform((v) => v === 'true'),
    /** The host other machines reach this process at, told to clients for the fast path and Kafka (Kafka: advertised.listeners); the listen host when not set. */
    advertisedHost: z.string().regex(/^[^:\s]+$/, 'must be a host name or IPv4 address, without a port').optional(),
    ...gatewayLimitSettings(),
    /** Partitions of a topic a Kafka client's Metadata request creates (Kafka: num.partitions; the gateway limit defaultPartitions). */
    numPartitions: z.coerce.number().int().min(1).max(10_000).optional(),
    // Security › Identity (cli/security-config.ts): Kafka's listeners, TLS from PEM files, SASL.
    /** NAME://HOST:PORT,...; replaces --kafka. */
    listeners: z.string().optional(),
    advertisedListeners: z.string().optional(),
    listenerSecurityProtocolMap: z.string().optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    tlsCa: z.string().min(1).optional(),
    tlsClientAuth: z.enum(['none', 'requested', 'required']).default('none'),
    /** Refuse fast-path sessions and Kafka listeners that do not authenticate. */
    requireAuthentication: z
      .preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('false'))
      .transform((v) => v === 'true'),
    /** The control plane (cli/control-plane-setup.ts): the cluster's secret, gRPC TLS, and consent to listen off loopback unauthenticated. */
    clusterSecretFile: z.string().min(1).optional(),
    controlTlsCert: z.string().min(1).optional(),
    controlTlsKey: z.string().min(1).optional(),
    controlTlsCa: z.string().min(1).optional(),
    allowInsecure: z.preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('false')).transform((v) => v === 'true'),
  })
  .strict()
  .refine((c) => c.segmentSize % 4096 === 0 && c.segmentSize >= 64 * 1024 && c.segmentSize <= SEGMENT_SIZE_BYTES_MAX, {
    message: `segment size must be a multiple of 4096, from 64K to ${SEGMENT_SIZE_BYTES_MAX} bytes (it is the largest segment of a topic without segment.bytes)`,
    path: ['segmentSize'],
  })
  .refine((c) => c.regionSize >= c.segmentSize + 8192, { message: 'region size must hold at least one segment', path: ['regionSize'] });

export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** The gateway limits set on the command line or in the config file; the gateway's own defaults (gateway/config.ts) fill the rest. */
export function gatewayLimitsOf(config: ServerConfig): Partial<Record<(typeof GATEWAY_LIMIT_KEYS)[number], number>> {
  const limits: Partial<Record<(typeof GATEWAY_LIMIT_KEYS)[number], number>> = Object.fromEntries(
    GATEWAY_LIMIT_KEYS.filter((key) => config[key] !== undefined).map((key) => [key, config[key]]),
  );
  // --num-partitions is Kafka's name for the gateway's defaultPartitions.
  if (config.numPartitions !== undefined) limits.defaultPartitions = config.numPartitions;
  return limits;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const flag = flagOf(String(issue.path[0] ?? ''));
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `bad value for ${flag}: allowed values are ${(issue.values as unknown[]).join(', ')}`;
  }
  if (issue.code === 'unrecognized_keys') return `unknown setting(s): ${issue.keys.join(', ')}`;
  return `bad value for ${flag}: ${issue.message}`;
}

/** A config file's keys as the flags spell them (region-size) or camelCase (regionSize); both mean the same setting. */
function settingsOfFile(configFile: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${configFile} must hold a JSON object of settings`);
  const settings: Record<string, unknown> = {};
  const spelled: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const camel = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (camel in settings) throw new ConfigError(`config file ${configFile} sets ${spelled[camel]} and ${key}: the same setting twice`);
    settings[camel] = value;
    spelled[camel] = key;
  }
  return settings;
}

/**
 * Where each role listens unless told: `rdmq start` takes the well-known
 * ports; the roles run apart take their own, so a storage node, a broker and
 * a gateway started on one host with no address flags do not clash.
 */
export const ROLE_DEFAULTS: Record<'start' | 'storage' | 'broker' | 'gateway', Record<string, string>> = {
  start: {},
  storage: { control: '127.0.0.1:7410', fastpath: '127.0.0.1:7411', metrics: '127.0.0.1:9465' },
  broker: {},
  gateway: { kafka: '127.0.0.1:9093', metrics: '127.0.0.1:9466' },
};

/**
 * The sizes a data directory was first started with, kept beside its data:
 * a region cannot change size, and a restart should not need to repeat them.
 */
const STORED_SETTINGS_FILE = 'settings.json';
const STORED_KEYS = [
  ['regionSize', '--region-size'],
  ['segmentSize', '--segment-size'],
] as const;

function readStoredSettings(dataDir: string): { regionSize: number; segmentSize: number } | undefined {
  const file = path.join(dataDir, STORED_SETTINGS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const stored = z.object({ regionSize: z.number().int().positive(), segmentSize: z.number().int().positive() }).safeParse(json);
  if (!stored.success) throw new ConfigError(`${file} is damaged (it holds the sizes the data directory was created with): ${text.slice(0, 200)}`);
  return stored.data;
}

/** Records the sizes with the data on the first start that succeeds (written whole: a temporary file renamed). */
export function writeStoredSettings(config: ServerConfig): void {
  const file = path.join(config.data, STORED_SETTINGS_FILE);
  if (fs.existsSync(file)) return;
  const text = JSON.stringify({ regionSize: config.regionSize, segmentSize: config.segmentSize }) + '\n';
  fs.writeFileSync(`${file}.tmp`, text, { flush: true });
  fs.renameSync(`${file}.tmp`, file);
}

/** The stored sizes where none was given; a given one that differs is refused, naming both. */
function withStoredSizes(config: ServerConfig, given: Record<string, unknown>): ServerConfig {
  const stored = readStoredSettings(config.data);
  if (!stored) return config;
  const result = { ...config };
  for (const [key, flag] of STORED_KEYS) {
    if (!(key in given)) result[key] = stored[key];
    else if (config[key] !== stored[key]) {
      throw new ConfigError(
        `${flag} ${formatSize(config[key])} differs from the ${formatSize(stored[key])} the data directory ${config.data} was created with; ` +
          `leave ${flag} out (the stored size is used) or start on another --data`,
      );
    }
  }
  return result;
}

/**
 * Merges a config file (if any) under the flags, the role's defaults under
 * both, and validates the result. With `dataSizes`, the region and segment
 * sizes stored with the data fill in for flags not given.
 */
export function loadServerConfig(
  flags: Record<string, unknown>,
  configFile?: string,
  options: { roleDefaults?: Record<string, string>; dataSizes?: boolean } = {},
): ServerConfig {
  const fromFile = configFile === undefined ? {} : settingsOfFile(configFile);
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const given = { ...fromFile, ...defined };
  const parsed = ServerConfigSchema.safeParse({ ...options.roleDefaults, ...given });
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map(describeIssue).join('; '));
  const config = options.dataSizes ? withStoredSizes(parsed.data, given) : parsed.data;
  try {
    parseGatewayLimits(gatewayLimitsOf(config));
  } catch (err) {
    // "gateway limit maxFrameBytes: ..." names the flag the user typed.
    throw new ConfigError((err as Error).message.replace(/gateway limit (\w+):/g, (_, key: string) => `bad value for ${flagOf(key)}:`));
  }
  return config;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}
