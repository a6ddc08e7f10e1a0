// Every setting rdmq takes, validated with zod. Flags override a JSON config
// file (--config FILE); a bad value is one line naming the setting and what is
// allowed, never a stack trace.
import * as fs from 'fs';
import { z } from 'zod';
import { parseSize } from '../bench/sizes';
import { SEGMENT_SIZE_BYTES_MAX } from '../storage-node';
import { GatewayLimitsSchema, parseGatewayLimits } from '../gateway';

const hostPort = z
  .string()
  .regex(/^[^:\s]+:\d{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:7400')
  .refine((v) => Number(v.split(':')[1]) <= 65535, 'port must be 0..65535');

const size = (label: string) =>
  z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
    if (typeof v === 'number') return v;
    try {
      return parseSize(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${label} ${(err as Error).message}` });
      return z.NEVER;
    }
  });

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
    control: hostPort.default('127.0.0.1:7400'),
    fastpath: hostPort.default('127.0.0.1:7401'),
    kafka: hostPort.default('127.0.0.1:9092'),
    metrics: hostPort.default('127.0.0.1:9464'),
    durability: z.enum(['none', 'flush', 'sync']).default('flush'),
    verify: z.enum(['crc', 'framing']).default('crc'),
    regionSize: size('region size').default(4 * 1024 ** 3),
    segmentSize: size('segment size').default(64 * 1024 ** 2),
    leaseTimeoutMs: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
    retentionCheckMs: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
    storage: hostPort.optional(),
    /** Create an unknown topic a Kafka client's Metadata request names (Kafka: auto.create.topics.enable). */
    autoCreateTopics: z
      .preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['true', 'false']).default('true'))
      .transform((v) => v === 'true'),
    /** The host other machines reach this process at, told to clients for the fast path and Kafka (Kafka: advertised.listeners); the listen host when not set. */
    advertisedHost: z.string().regex(/^[^:\s]+$/, 'must be a host name or IPv4 address, without a port').optional(),
    ...gatewayLimitSettings(),
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
  return Object.fromEntries(GATEWAY_LIMIT_KEYS.filter((key) => config[key] !== undefined).map((key) => [key, config[key]]));
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

/** Merges a config file (if any) under the flags and validates the result. */
export function loadServerConfig(flags: Record<string, unknown>, configFile?: string): ServerConfig {
  let fromFile: Record<string, unknown> = {};
  if (configFile !== undefined) {
    try {
      fromFile = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
  }
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const result = ServerConfigSchema.safeParse({ ...fromFile, ...defined });
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue).join('; '));
  try {
    parseGatewayLimits(gatewayLimitsOf(result.data));
  } catch (err) {
    // "gateway limit maxFrameBytes: ..." names the flag the user typed.
    throw new ConfigError((err as Error).message.replace(/gateway limit (\w+):/g, (_, key: string) => `bad value for ${flagOf(key)}:`));
  }
  return result.data;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}
