// rdmq — one command for every role and tool.
//
//   rdmq start [--data DIR] [--control HOST:PORT] [--fastpath HOST:PORT] [--durability none|flush|sync] ...
//   rdmq gateway --control HOST:PORT --kafka HOST:PORT  one more Kafka gateway for a broker
//   rdmq topics create|list|delete|describe|alter|config [NAME] [--partitions N] [--set k=v] [--control HOST:PORT]
//   rdmq status [--json] [--control HOST:PORT]          the cluster at a glance
//   rdmq corruption list|skip ...                      fenced (corrupt) ranges and the operator's decision on them
//   rdmq metadata check|truncate --data DIR ...        the broker's metadata log, offline
//   rdmq produce TOPIC [--key K] [--header K=V] [--partition P]   (one message per stdin line)
//   rdmq consume TOPIC [--offset earliest|latest|N] [--partition P] [--max-messages N]
//   rdmq cluster start|status|stop|restart-member     a local multi-process cluster (cli/cluster.ts)
//   rdmq bench ...                                     (see `rdmq bench --help`)
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { parseArgs } from 'util';
import { humanBytes, renderTable } from '../bench/sizes';
import type { ConsumedMessage } from '../rdma-client/consumer';
import type { Message } from '../rdma-client/producer';
import { CONTROL_FLAGS } from './control-flags';

// Each command loads the roles it uses when it runs: help, usage errors and
// the version answer at once, without loading gRPC, UCX and the Kafka codec.
const client = () => import('../rdma-client');

/** The SDK, with this process's control plane set up from the command's flags first. */
async function controlClient(values: Record<string, unknown>): ReturnType<typeof client> {
  (await import('./control-plane-setup')).setUpClientControlPlane(values);
  return client();
}

const SERVER_OPTIONS = `[--config FILE] [--data DIR] [--control HOST:PORT] [--fastpath HOST:PORT] [--kafka HOST:PORT]
           [--durability none|flush|sync] [--region-size SIZE] [--segment-size SIZE (default segment.bytes)] [--lease-timeout-ms MS]
           [--retention-check-ms MS] [--metrics HOST:PORT] [--verify crc|framing]
           [--prefault-region]            fault the whole region in at start, so no write or read pays a page's first touch
                                          later (startup then takes ~3 s per GiB on a shadow-paging VM, less on bare metal)
           [--scrub-rate SIZE]            bytes per second the storage node checks its committed batches again in the
                                          background, reporting damage found (default 16M; 0: off)
           [--advertised-host HOST]      the host clients are told for the fast path and Kafka (default: the listen host)
           [--auto-create-topics true|false]   create topics Kafka clients ask for (default true)
           [--max-buffered-request-bytes SIZE]  Kafka request bytes held at once over all connections (default 256M,
                                                no less than the 100M frame bound); reading stops there
           [--max-fetch-memory-bytes SIZE]      Kafka Fetch response bytes held at once over all connections (default 256M)
           [--num-partitions N]                 partitions of a topic auto-created for a Kafka client (default 1)
           [--group-initial-rebalance-delay-ms MS]  how long an empty consumer group's first rebalance waits for more
                                                members (Kafka: group.initial.rebalance.delay.ms; default 3000)
           [--listeners NAME://HOST:PORT,...]   Kafka listeners (replace --kafka), NAME a security protocol (PLAINTEXT, SSL,
                                                SASL_PLAINTEXT, SASL_SSL) or mapped by --listener-security-protocol-map N:P,...
           [--advertised-listeners NAME://HOST:PORT,...]  what Metadata tells clients of each listener
           [--tls-cert PEM --tls-key PEM [--tls-ca PEM] [--tls-client-auth none|requested|required]]  TLS listeners
           [--require-authentication]           refuse unauthenticated SDK sessions; every Kafka listener must authenticate
           [--super-users User:A,User:B]        principals allowed everything (Kafka: super.users)
           [--allow-everyone-if-no-acl-found true|false]  a resource with no ACL at all is open to everyone (default true)
           [--max-frame-bytes SIZE] [--idle-timeout-ms MS] ...  every gateway limit of gateway/config.ts, by its name
                                                in kebab case (socket.request.max.bytes, connections.max.idle.ms, ...)
           [--cluster-secret-file F]            the cluster's secret (default: rdmq start's DATA/cluster-secret, made on
                                                its first start; roles apart on loopback: ~/.rdmq/cluster-secret)
           [--control-tls-cert PEM --control-tls-key PEM --control-tls-ca PEM]   gRPC over TLS between roles
           [--allow-insecure]                   listen off loopback without TLS + secret (and an unauthenticated Kafka door)`;

/**
 * Every subcommand: its usage (printed by `rdmq CMD --help`, `rdmq help CMD`
 * and after a usage error) and what runs it. A new subcommand is one entry.
 */
const COMMANDS: Record<string, { usage: string; run: (argv: string[]) => Promise<void>; help?: () => Promise<void> }> = {
  start: {
    usage: `rdmq start ${SERVER_OPTIONS}
                                                    storage node, broker and Kafka gateway in one process; defaults:
                                                    --data ./data --control 127.0.0.1:7400 --fastpath 127.0.0.1:7401
                                                    --kafka 127.0.0.1:9092 --metrics 127.0.0.1:9464 --region-size 4G
                                                    --segment-size 64M (both stored with the data at the first start)`,
    run: (argv) => serve('start', argv),
  },
  storage: {
    usage: `rdmq storage [start's options]                   the storage node alone (--control is its gRPC address); its
                                                    defaults: --control 127.0.0.1:7410 --fastpath 127.0.0.1:7411
                                                    --metrics 127.0.0.1:9465, so it runs beside a broker on one host
             [--commit-port PORT]                 the TCP port of its commit socket on the --control host, where
                                                    brokers send commits (default: one the system picks, told to
                                                    the broker; brokers that cannot reach it use gRPC, slower)`,
    run: (argv) => serve('storage', argv),
  },
  broker: {
    usage: `rdmq broker --storage HOST:PORT[,HOST:PORT...] [start's options]
                                                    the broker and Kafka gateway, using those storage nodes
        [--default-replication-factor R]            copies of each segment for topics created without a replication
                                                    factor (default 1; at most the storage nodes)
        [--etcd http://HOST:PORT[,...]] [--etcd-prefix /rdmq] [--etcd-lease-ttl SECONDS]
                                                    one broker of an HA group: leader elected through etcd, metadata in
                                                    etcd; a standby takes over within a few seconds of the leader's loss`,
    run: (argv) => serve('broker', argv),
  },
  gateway: {
    usage: `rdmq gateway --control HOST:PORT[,HOST:PORT...] [--kafka HOST:PORT] [--node-id N] [--metrics HOST:PORT] [--advertised-host HOST]
             [--listeners ...] [--advertised-listeners ...] [--tls-cert PEM --tls-key PEM [--tls-ca PEM] [--tls-client-auth ...]]
                                                    (as rdmq start: several listeners, TLS, SASL checked with the broker's users)
             [--max-buffered-request-bytes SIZE] [--max-fetch-memory-bytes SIZE]
                                                    one more Kafka gateway for that broker (listed in Metadata while it runs);
                                                    its defaults: --kafka 127.0.0.1:9093 --metrics 127.0.0.1:9466`,
    run: (argv) => serve('gateway', argv),
  },
  topics: {
    usage: `rdmq topics create NAME [--partitions N] [--replication-factor R] [--config k=v ...] | list | delete NAME | describe NAME
            | alter NAME --partitions N           more partitions (never fewer)
            | config NAME [--set k=v ...] [--delete k ...]   change topic configs (none given: print them)
            [--control HOST:PORT]`,
    run: (argv) => topics(argv),
  },
  acls: {
    usage: `rdmq acls add|remove|list (--allow-principal P | --deny-principal P ...) [--allow-host H | --deny-host H]
             [--operation OP ...] (--topic T | --group G | --transactional-id ID | --cluster)
             [--resource-pattern-type literal|prefixed|match|any] [--control HOST:PORT]
                                                    Kafka-like ACLs: principals are User:NAME or User:*; operations
                                                    all, read, write, create, delete, alter, describe, cluster-action,
                                                    describe-configs, alter-configs, idempotent-write; add takes
                                                    literal (default) or prefixed; remove and list match like Kafka
                                                    (no resource or principal given: every one)`,
    run: async (argv) => (await import('./acls-command')).aclsCommand(argv, usageError),
  },
  status: {
    usage: `rdmq status [--json] [--control HOST:PORT]          the cluster at a glance (fenced ranges included)`,
    run: (argv) => status(argv),
  },
  corruption: {
    usage: `rdmq corruption list [--control HOST:PORT]          committed ranges that failed their check, at recovery or by the scrubber (fenced:
                                                    readers get CORRUPT_MESSAGE there; nothing was cut)
rdmq corruption skip --topic T --partition P --segment S [--position BYTE] [--control HOST:PORT]
                                                    replaces the fenced ranges of segment S (or the one at BYTE) with a
                                                    skip marker over exactly their offsets: readers step over them and
                                                    offsets stay contiguous; their records are gone for good`,
    run: (argv) => corruption(argv),
  },
  metadata: {
    usage: `rdmq metadata check --data DIR                      reads the broker's metadata log, says whether it is intact
rdmq metadata truncate --data DIR --at BYTE         cuts the log at a corrupt record (the broker refuses to start on
                                                    one); the records from there on are lost; a copy is kept beside it`,
    run: (argv) => metadata(argv),
  },
  produce: {
    usage: `rdmq produce TOPIC [--key KEY | --key-separator SEP] [--header K=V ...] [--partition P]
             [--mode shared|exclusive] [--control HOST:PORT]
             [--user NAME (--password PW | --password-file FILE|-) [--mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512]]
                                                    one message per stdin line; with --key-separator, a line's text
                                                    before SEP is its key (lines without SEP have no key)`,
    run: (argv) => produce(argv),
  },
  consume: {
    usage: `rdmq consume TOPIC [--from-beginning | --offset earliest|latest|N] [--partition P[,P...]] [--max-messages N]
             [--print-key] [--print-headers] [--group GROUP] [--control HOST:PORT]
             [--user NAME (--password PW | --password-file FILE|-) [--mechanism ...]]  authenticate (default SCRAM-SHA-512)
                                                    one message per line: [headers TAB] [key TAB] value; --offset N
                                                    needs --partition (offsets are per partition); default: latest;
                                                    --group: the group's share of the partitions from its committed
                                                    offsets, committing what it printed`,
    run: (argv) => consume(argv),
  },
  users: {
    usage: `rdmq users create|alter|delete|list [NAME] [--password PW | --password-file FILE|-] [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]
             [--iterations N] [--control HOST:PORT]  SCRAM users of the Kafka door and the SDK (rdmq users --help)`,
    run: async (argv) => {
      const { usersCommand, UsageError } = await import('./users-command');
      await usersCommand(argv, (line) => process.stdout.write(`${line}\n`)).catch((err: Error) => (err instanceof UsageError ? usageError(err.message) : Promise.reject(err)));
    },
    help: async () => void process.stdout.write(`usage:\n${indent((await import('./users-command')).USERS_USAGE)}\n`),
  },
  cluster: {
    usage: `rdmq cluster start|status|stop|restart-member ...   a local multi-process cluster (rdmq cluster --help)`,
    run: async (argv) => (await import('./cluster-command')).clusterCommand(argv),
    help: async () => (await import('./cluster-command')).clusterCommand(['--help']),
  },
  bench: {
    usage: `rdmq bench --target fastpath [...]                 (rdmq bench --help)`,
    run: async (argv) => (await import('../bench/bench')).runBench(argv),
    help: async () => (await import('../bench/bench')).runBench(['--help']),
  },};

/** Every command that calls the control plane takes these too (README: Security, control plane). */
const CONTROL_FLAGS_USAGE = `
            [--cluster-secret-file F]               the cluster's secret (default: ./data/cluster-secret, then ~/.rdmq/cluster-secret)
            [--control-tls-ca PEM [--control-tls-cert PEM --control-tls-key PEM]]   the broker's gRPC over TLS`;
for (const name of ['topics', 'status', 'corruption', 'produce', 'consume', 'acls', 'users']) COMMANDS[name].usage += CONTROL_FLAGS_USAGE;

const indent = (text: string): string => text.replace(/^/gm, '  ');
const USAGE = `usage:\n${Object.values(COMMANDS).map((c) => indent(c.usage)).join('\n')}
  rdmq help [COMMAND] | rdmq COMMAND --help | rdmq --version`;

const camelCase = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function fail(message: string): never {
  process.stderr.write(`rdmq: ${message}\n`);
  process.exit(2);
}

/** A subcommand called without what it needs to do anything: its usage, as a usage error. */
function usageOf(command: string): never {
  process.stderr.write(`usage:\n${indent(COMMANDS[command].usage)}\n`);
  process.exit(2);
}

const log = (message: string): void => void process.stderr.write(`${new Date().toISOString()} ${message}\n`);

type Role = 'start' | 'storage' | 'broker' | 'gateway';

async function serve(role: Role, argv: string[]): Promise<void> {
  const { GATEWAY_LIMIT_FLAGS } = await import('./config');
  const { setUpServerControlPlane } = await import('./control-plane-setup');
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      control: { type: 'string' },
      ...CONTROL_FLAGS,
      fastpath: { type: 'string' },
      'commit-port': { type: 'string' },
      kafka: { type: 'string' },
      durability: { type: 'string' },
      'region-size': { type: 'string' },
      'segment-size': { type: 'string' },
      'lease-timeout-ms': { type: 'string' },
      'retention-check-ms': { type: 'string' },
      'group-initial-rebalance-delay-ms': { type: 'string' },
      storage: { type: 'string' },
      'default-replication-factor': { type: 'string' },
      metrics: { type: 'string' },
      verify: { type: 'string' },
      'prefault-region': { type: 'boolean' },
      'scrub-rate': { type: 'string' },
      'node-id': { type: 'string' },
      'advertised-host': { type: 'string' },
      'auto-create-topics': { type: 'string' },
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'etcd-lease-ttl': { type: 'string' },
      'num-partitions': { type: 'string' },
      listeners: { type: 'string' },
      'advertised-listeners': { type: 'string' },
      'listener-security-protocol-map': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-client-auth': { type: 'string' },
      'require-authentication': { type: 'boolean' },
      'allow-insecure': { type: 'boolean' },
      'super-users': { type: 'string' },
      'allow-everyone-if-no-acl-found': { type: 'string' },
      ...Object.fromEntries(GATEWAY_LIMIT_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
    },
    strict: true,
  });
  if (values['node-id'] !== undefined && role !== 'gateway') fail('--node-id is an option of rdmq gateway');
  if (values['commit-port'] !== undefined && role !== 'storage') fail('--commit-port is an option of rdmq storage');
  if (role !== 'broker' && (values.etcd ?? values['etcd-prefix'] ?? values['etcd-lease-ttl']) !== undefined) fail('--etcd, --etcd-prefix and --etcd-lease-ttl are options of rdmq broker');
  if (role !== 'gateway' && values.control?.includes(',')) fail(`--control of rdmq ${role} is the one address it listens on; a list is for rdmq gateway`);
  const { loadServerConfig, ROLE_DEFAULTS } = await import('./config');
  const { startAll, startBroker, startGatewayNode, startStorage } = await import('./node');
  const { startHaBroker } = await import('./ha-broker');
  const config = loadServerConfig(
    {
      data: values.data,
      control: values.control,
      fastpath: values.fastpath,
      commitPort: values['commit-port'],
      kafka: values.kafka,
      durability: values.durability,
      regionSize: values['region-size'],
      segmentSize: values['segment-size'],
      leaseTimeoutMs: values['lease-timeout-ms'],
      retentionCheckMs: values['retention-check-ms'],
      groupInitialRebalanceDelayMs: values['group-initial-rebalance-delay-ms'],
      storage: values.storage,
      defaultReplicationFactor: values['default-replication-factor'],
      metrics: values.metrics,
      verify: values.verify,
      prefaultRegion: values['prefault-region'],
      scrubRate: values['scrub-rate'],
      advertisedHost: values['advertised-host'],
      autoCreateTopics: values['auto-create-topics'],
      etcd: values.etcd,
      etcdPrefix: values['etcd-prefix'],
      etcdLeaseTtl: values['etcd-lease-ttl'],
      numPartitions: values['num-partitions'],
      listeners: values.listeners,
      advertisedListeners: values['advertised-listeners'],
      listenerSecurityProtocolMap: values['listener-security-protocol-map'],
      tlsCert: values['tls-cert'],
      tlsKey: values['tls-key'],
      tlsCa: values['tls-ca'],
      tlsClientAuth: values['tls-client-auth'],
      requireAuthentication: values['require-authentication'],
      clusterSecretFile: values['cluster-secret-file'],
      controlTlsCert: values['control-tls-cert'],
      controlTlsKey: values['control-tls-key'],
      controlTlsCa: values['control-tls-ca'],
      allowInsecure: values['allow-insecure'],
      superUsers: values['super-users'],
      allowEveryoneIfNoAclFound: values['allow-everyone-if-no-acl-found'],
      ...Object.fromEntries(GATEWAY_LIMIT_FLAGS.map((flag) => [camelCase(flag), (values as Record<string, unknown>)[flag]])),
    },
    values.config,
    { roleDefaults: ROLE_DEFAULTS[role], dataSizes: role !== 'gateway' },
  );
  // Listeners and TLS files are checked before anything starts: a bad certificate path is one line, nothing opened.
  if (role !== 'storage') (await import('./security-config')).kafkaListenersOf(config);
  setUpServerControlPlane(role, config);
  const { inMemoryOnlyFilesystem, keepFreedMemory } = await import('../addon');
  // Per-request MiB buffers reuse touched pages instead of faulting fresh ones in (addon/allocator.ts).
  keepFreedMemory();
  const host = (address: string): string => address.slice(0, address.lastIndexOf(':'));
  let node: { close(): Promise<void> };
  let ready: object;
  if (role === 'gateway') {
    const nodeId = values['node-id'] === undefined ? undefined : Number(values['node-id']);
    if (nodeId !== undefined && !(Number.isInteger(nodeId) && nodeId >= 0 && nodeId <= 0x7fffffff)) fail(`--node-id must be an integer 0..2147483647, got ${values['node-id']}`);
    const gateway = await startGatewayNode(config, { nodeId }, log);
    log(
      `rdmq gateway ${gateway.nodeId}: Kafka on ${host(config.kafka)}:${gateway.kafkaPort}, broker at ${config.control}, ` +
        `metrics on http://${host(config.metrics)}:${gateway.metricsPort}/metrics`,
    );
    node = gateway;
    ready = { ready: true, kafkaPort: gateway.kafkaPort, kafkaPorts: gateway.kafkaPorts, metricsPort: gateway.metricsPort, nodeId: gateway.nodeId };
  } else if (role === 'broker' && config.etcd) {
    const broker = await startHaBroker(config, log);
    log(
      `rdmq broker: one of the HA group in etcd ${config.etcd.join(',')} (prefix ${config.etcdPrefix}, lease ${config.etcdLeaseTtl} s), storage node at ${config.storage}; ` +
        `control gRPC on ${host(config.control)}:${broker.controlPort}, Kafka on ${host(config.kafka)}:${broker.kafkaPort}; standby until elected`,
    );
    node = broker;
    ready = { ready: true, controlPort: broker.controlPort, fastpathPort: broker.fastpathPort, metricsPort: broker.metricsPort, kafkaPort: broker.kafkaPort, ha: true };
  } else {
    const server =
      role === 'start' ? await startAll(config, log) : role === 'storage' ? await startStorage(config, log) : await startBroker(config, log);
    const what = role === 'start' ? 'storage node + broker + Kafka gateway' : role === 'storage' ? 'storage node' : `broker + Kafka gateway (storage node${config.storage!.length > 1 ? 's' : ''} at ${config.storage!.join(', ')})`;
    const kafkaPort = 'kafkaPort' in server ? server.kafkaPort : undefined;
    const kafkaPorts = 'kafkaPorts' in server ? server.kafkaPorts : undefined;
    log(
      `rdmq ${role}: ${what}, data in ${config.data} (durability ${config.durability}${role !== 'broker' && inMemoryOnlyFilesystem(config.data) ? '; on tmpfs, kept in memory only: it survives a crash of rdmq, not a power loss or reboot, and commits have nothing to flush' : ''}); ` +
        `control gRPC on ${host(config.control)}:${server.controlPort}, fast path (UCX) on ${host(config.fastpath)}:${server.fastpathPort}, ` +
        `metrics on http://${host(config.metrics)}:${server.metricsPort}/metrics` +
        (kafkaPort ? `, Kafka on ${host(config.kafka)}:${kafkaPort}` : ''),
    );
    node = server;
    ready = { ready: true, controlPort: server.controlPort, fastpathPort: server.fastpathPort, metricsPort: server.metricsPort, kafkaPort, kafkaPorts };
  }
  process.stdout.write(JSON.stringify(ready) + '\n');
  const shutdown = (signal: string): void => {
    log(`${signal}: shutting down`);
    node.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

/** `k=v` pairs of a repeated option, e.g. --set retention.ms=60000 or --header trace=abc. */
function keyValues(option: string, pairs: string[] | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) usageError(`--${option} takes KEY=VALUE, got "${pair}"`);
    result[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return result;
}

function positiveInteger(option: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) usageError(`--${option} must be a positive integer, got ${text ?? 'nothing'}`);
  return n;
}

function nonNegativeInteger(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) usageError(`--${option} must be a non-negative integer, got ${text}`);
  return n;
}

/** How `rdmq produce` and `rdmq consume` authenticate (the users of `rdmq users`). */
const SASL_FLAGS = {
  user: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  mechanism: { type: 'string' },
} as const;

async function saslOf(values: { user?: string; password?: string; 'password-file'?: string; mechanism?: string }) {
  const given = values.password ?? values['password-file'] ?? values.mechanism;
  if (values.user === undefined) {
    if (given !== undefined) usageError('--password, --password-file and --mechanism go with --user');
    return undefined;
  }
  const { readPassword, UsageError } = await import('./users-command');
  let password: string | undefined;
  try {
    password = readPassword(values.password, values['password-file']);
  } catch (err) {
    usageError(err instanceof UsageError ? err.message : String(err));
  }
  if (!password) usageError('--user needs --password or --password-file (- for stdin)');
  const mechanism = (values.mechanism ?? 'scram-sha-512').toLowerCase();
  if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') usageError(`--mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got ${values.mechanism}`);
  return { mechanism, username: values.user, password } as const;
}

const TOPICS_ACTIONS = ['create', 'list', 'delete', 'describe', 'alter', 'config'];

async function topics(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      control: { type: 'string' },
      ...CONTROL_FLAGS,
      partitions: { type: 'string' },
      'replication-factor': { type: 'string' },
      config: { type: 'string', multiple: true },
      set: { type: 'string', multiple: true },
      delete: { type: 'string', multiple: true },
    },
    allowPositionals: true,
    strict: true,
  });
  const [action, name] = positionals;
  if (action === undefined) usageOf('topics');
  if (!TOPICS_ACTIONS.includes(action)) usageError(`unknown action "${action}"; allowed: ${TOPICS_ACTIONS.join(', ')}`);
  if (action !== 'list' && !name) usageError(`topics ${action} needs a topic name`);
  const admin = new (await controlClient(values)).Rdmq({ control: values.control }).admin();
  await admin.connect();
  try {
    if (action === 'create') {
      const partitions = values.partitions === undefined ? 1 : positiveInteger('partitions', values.partitions);
      const configEntries = Object.entries(keyValues('config', values.config)).map(([k, v]) => ({ name: k, value: v }));
      const replicationFactor = values['replication-factor'] === undefined ? undefined : positiveInteger('replication-factor', values['replication-factor']);
      if (!(await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions, replicationFactor, configEntries }] }))) {
        const existing = await admin.describeTopic(name);
        fail(`topic ${name} already exists with ${existing.partitions.length} partition(s); nothing changed (more partitions: rdmq topics alter ${name} --partitions N)`);
      }
      process.stdout.write(`created topic ${name} with ${partitions} partition(s)${replicationFactor ? `, replication factor ${replicationFactor}` : ''}\n`);
    } else if (action === 'list') {
      for (const t of await admin.listTopics()) process.stdout.write(`${t}\n`);
    } else if (action === 'delete') {
      await admin.deleteTopics({ topics: [name] });
      process.stdout.write(`deleted topic ${name}\n`);
    } else if (action === 'describe') {
      const t = await admin.describeTopic(name);
      process.stdout.write(`topic ${t.name} (id ${t.topicId})\n`);
      for (const p of t.partitions) {
        process.stdout.write(`  partition ${p.partition}: offsets ${p.logStartOffset}..${p.highWatermark}, ${p.segments} segment(s), ${p.committedBytes} bytes\n`);
      }
    } else if (action === 'alter') {
      const partitions = positiveInteger('partitions', values.partitions);
      await admin.createPartitions({ topicPartitions: [{ topic: name, count: partitions }] });
      process.stdout.write(`topic ${name} now has ${partitions} partition(s)\n`);
    } else {
      const set = keyValues('set', values.set);
      const configs = values.set || values.delete ? await admin.alterTopicConfigs(name, { set, reset: values.delete }) : (await admin.describeTopic(name)).configs;
      for (const [k, v] of Object.entries(configs).sort(([x], [y]) => (x < y ? -1 : 1))) process.stdout.write(`${k}=${v}\n`);
    }
  } finally {
    await admin.disconnect();
  }
}

async function produce(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      control: { type: 'string' },
      ...CONTROL_FLAGS,
      mode: { type: 'string' },
      key: { type: 'string' },
      'key-separator': { type: 'string' },
      header: { type: 'string', multiple: true },
      partition: { type: 'string' },
      ...SASL_FLAGS,
    },
    allowPositionals: true,
    strict: true,
  });
  const topic = positionals[0] ?? usageOf('produce');
  const mode = values.mode ?? 'shared';
  if (mode !== 'shared' && mode !== 'exclusive') usageError(`--mode must be shared or exclusive, got ${mode}`);
  if (values.key !== undefined && values['key-separator'] !== undefined) usageError('--key and --key-separator exclude each other');
  if (values['key-separator'] === '') usageError('--key-separator must not be empty');
  const headers = keyValues('header', values.header);
  const partition = values.partition === undefined ? undefined : nonNegativeInteger('partition', values.partition);
  const separator = values['key-separator'];
  const message = (line: string): Message => {
    let key: string | undefined = values.key;
    let value = line;
    if (separator !== undefined) {
      const at = line.indexOf(separator);
      if (at >= 0) [key, value] = [line.slice(0, at), line.slice(at + separator.length)];
    }
    return { key, value, headers, partition };
  };
  const producer = new (await controlClient(values)).Rdmq({ control: values.control, sasl: await saslOf(values) }).producer({ mode });
  await producer.connect();
  let count = 0;
  const lines = readline.createInterface({ input: process.stdin });
  let pending: string[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await producer.send({ topic, messages: batch.map(message) });
    count += batch.length;
  };
  for await (const line of lines) {
    pending.push(line);
    if (pending.length >= 1000) await flush();
  }
  await flush();
  await producer.disconnect();
  process.stderr.write(`produced ${count} message(s) to ${topic}\n`);
}

async function consume(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      control: { type: 'string' },
      ...CONTROL_FLAGS,
      'from-beginning': { type: 'boolean' },
      'max-messages': { type: 'string' },
      partition: { type: 'string', multiple: true },
      offset: { type: 'string' },
      'print-key': { type: 'boolean' },
      'print-headers': { type: 'boolean' },
      group: { type: 'string' },
      ...SASL_FLAGS,
    },
    allowPositionals: true,
    strict: true,
  });
  const topic = positionals[0] ?? usageOf('consume');
  const max = values['max-messages'] === undefined ? Infinity : positiveInteger('max-messages', values['max-messages']);
  const partitions = values.partition?.flatMap((p) => p.split(',')).map((p) => nonNegativeInteger('partition', p));
  const offset = values.offset ?? (values['from-beginning'] ? 'earliest' : 'latest');
  if (values.offset !== undefined && values['from-beginning']) usageError('--from-beginning and --offset exclude each other (--from-beginning is --offset earliest)');
  const at = offset === 'earliest' || offset === 'latest' ? undefined : nonNegativeInteger('offset', offset);
  if (at !== undefined && partitions === undefined) usageError('--offset N needs --partition P (offsets are per partition)');
  if (values.group === '') usageError('--group needs a group id');
  if (values.group !== undefined && (values.offset !== undefined || partitions !== undefined)) usageError('--group reads from the group\'s committed offsets and its share of the partitions: no --offset or --partition');
  const rdmq = new (await controlClient(values)).Rdmq({ control: values.control, sasl: await saslOf(values) });
  // In a group: the group's share of the partitions, from its committed offsets; what is printed is committed.
  const consumer = values.group !== undefined ? rdmq.consumer({ groupId: values.group }) : rdmq.consumer();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: offset === 'earliest', partitions });
  if (at !== undefined && 'seek' in consumer) for (const partition of partitions ?? []) consumer.seek({ topic, partition, offset: at });
  const show = (m: ConsumedMessage): string => {
    const fields: string[] = [];
    if (values['print-headers']) fields.push(Object.entries(m.headers).map(([k, v]) => `${k}=${v?.toString() ?? ''}`).join(','));
    if (values['print-key']) fields.push(m.key?.toString() ?? '');
    fields.push(m.value?.toString() ?? '');
    return fields.join('\t');
  };
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    void consumer
      .run(
        {
          eachMessage: ({ message }) => {
            // Refused, not dropped: a group commits only what its handler finished, so the next reader gets it.
            if (seen >= max) throw new Error('past --max-messages');
            process.stdout.write(`${show(message)}\n`);
            if (++seen >= max) resolve();
          },
        },
        (err) => (seen >= max ? undefined : reject(err)),
      )
      .catch(reject);
    process.once('SIGINT', () => resolve());
  });
  await consumer.disconnect();
}

async function status(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { control: { type: 'string' }, json: { type: 'boolean' }, ...CONTROL_FLAGS }, strict: true });
  const connection = await (await controlClient(values)).Connection.open({ control: values.control });
  try {
    const s = await connection.call<ClusterStatus>('getStatus', {});
    if (values.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return;
    }
    const mib = (n: number | string): string => humanBytes(Number(n));
    process.stdout.write(
      `cluster ${s.cluster.clusterId}  up ${(Number(s.uptimeMs) / 1000).toFixed(0)} s  durability ${s.cluster.durability}\n` +
        `fast path ${s.cluster.fastpathAddress} (storage ${s.cluster.storageFastpathAddress})  clients ${s.fastpathClients}\n` +
        `Kafka gateways ${s.kafkaGateways.length === 0 ? 'none' : s.kafkaGateways.map((g) => `${g.nodeId}@${g.address}`).join(', ')}\n` +
        `storage ${s.storageSegments} segments in ${mib(s.storageAllocatedBytes)}, ${mib(s.storageFreeBytes)} free, ${mib(s.storageUsedBytes)} committed\n\n`,
    );
    const rows = s.topics.flatMap((t) => t.partitions.map((p) => [t.name, p.partition, p.logStartOffset, p.highWatermark, p.segments, mib(p.committedBytes)]));
    process.stdout.write(renderTable(['topic', 'partition', 'log start', 'high watermark', 'segments', 'committed'], rows) + '\n');
    if (s.fencedRanges.length > 0 || s.storageUnreadableSlots.length > 0) process.stdout.write(`\n${describeDamage(s.fencedRanges, s.storageUnreadableSlots)}`);
  } finally {
    await connection.close();
  }
}

interface FencedRangeStatus {
  topic: string;
  partition: number;
  segmentId: string;
  lost: boolean;
  startPosition: number;
  endPosition: number;
  baseOffset: string;
  endOffset: string;
  reason: string;
}

function describeDamage(ranges: FencedRangeStatus[], unreadableSlots: string[]): string {
  const lines = [`CORRUPT: ${ranges.length} fenced range(s); readers get CORRUPT_MESSAGE there until 'rdmq corruption skip':`];
  for (const f of ranges) {
    const bytes = f.lost ? 'whole segment (header unreadable)' : `bytes [${f.startPosition}, ${f.endPosition})`;
    lines.push(`  ${f.topic}-${f.partition} offsets [${f.baseOffset}, ${f.endOffset}) segment ${f.segmentId} ${bytes}: ${f.reason}`);
  }
  for (const u of unreadableSlots) lines.push(`  storage ${u}`);
  return lines.join('\n') + '\n';
}

async function corruption(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { control: { type: 'string' }, ...CONTROL_FLAGS, topic: { type: 'string' }, partition: { type: 'string' }, segment: { type: 'string' }, position: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [action] = positionals;
  if (action === undefined) usageOf('corruption');
  if (action !== 'list' && action !== 'skip') fail(`unknown corruption action "${action ?? ''}"; allowed: list, skip`);
  const integer = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(n)) fail(`corruption skip needs --${name} as a non-negative integer, got ${text ?? 'nothing'}`);
    return n;
  };
  const connection = await (await controlClient(values)).Connection.open({ control: values.control });
  try {
    if (action === 'list') {
      const s = await connection.call<ClusterStatus>('getStatus', {});
      process.stdout.write(s.fencedRanges.length === 0 && s.storageUnreadableSlots.length === 0 ? 'no fenced ranges\n' : describeDamage(s.fencedRanges, s.storageUnreadableSlots));
      return;
    }
    const topic = values.topic ?? fail('corruption skip needs --topic');
    const request = {
      topic,
      partition: integer('partition', values.partition),
      segmentId: String(integer('segment', values.segment)),
      startPosition: values.position === undefined ? -1 : integer('position', values.position),
    };
    const { skipped } = await connection.call<{ skipped: FencedRangeStatus[] }>('skipFencedRanges', request);
    for (const f of skipped) {
      process.stdout.write(`skipped ${topic}-${request.partition} offsets [${f.baseOffset}, ${f.endOffset}) segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition}): a skip marker now covers them\n`);
    }
  } finally {
    await connection.close();
  }
}

async function metadata(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, at: { type: 'string' } }, allowPositionals: true, strict: true });
  const [action] = positionals;
  if (action === undefined) usageOf('metadata');
  const dir = path.join(values.data ?? fail(`metadata ${action ?? ''} needs --data DIR (the data directory of rdmq start or rdmq broker)`), 'meta');
  const { checkMetadataLog, truncateMetadataLog } = await import('../broker');
  if (action === 'check') {
    const found = await checkMetadataLog(dir);
    process.stdout.write(`${found.message}\n`);
    if (!found.intact) process.exitCode = 1;
  } else if (action === 'truncate') {
    const at = Number(values.at);
    if (values.at === undefined || !/^\d+$/.test(values.at) || !Number.isSafeInteger(at)) fail(`metadata truncate needs --at BYTE (the position the broker's refusal named), got ${values.at ?? 'nothing'}`);
    process.stdout.write(`${await truncateMetadataLog(dir, at)}\n`);
  } else {
    fail(`unknown metadata action "${action ?? ''}"; allowed: check, truncate`);
  }
}

interface ClusterStatus {
  cluster: { clusterId: string; fastpathAddress: string; storageFastpathAddress: string; durability: string };
  topics: { name: string; partitions: { partition: number; logStartOffset: string; highWatermark: string; segments: number; committedBytes: string }[] }[];
  storageSegments: number;
  storageAllocatedBytes: number | string;
  storageFreeBytes: number | string;
  storageUsedBytes: string;
  fastpathClients: number;
  uptimeMs: string;
  kafkaGateways: { nodeId: number; address: string }[];
  fencedRanges: FencedRangeStatus[];
  storageUnreadableSlots: string[];
}

/** The subcommand running now, named in usage errors. */
let running: string | undefined;

/** A usage error: one line naming what was wrong and where the usage is. */
function usageError(message: string): never {
  fail(running ? `${running}: ${message} (see rdmq ${running} --help)` : `${message} (see rdmq --help)`);
}

function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

const asksForHelp = (argv: string[]): boolean => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`rdmq ${version()}\n`);
    return;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const about = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    if (rest[0] !== undefined && !about) fail(`unknown command "${rest[0]}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    if (about?.help) return about.help();
    process.stdout.write(`${about ? `usage:\n${indent(about.usage)}` : USAGE}\n`);
    return;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) fail(`unknown command "${command}"; commands: ${Object.keys(COMMANDS).join(', ')} (see rdmq --help)`);
  running = command;
  if (asksForHelp(rest)) {
    if (entry.help) return entry.help();
    process.stdout.write(`usage:\n${indent(entry.usage)}\n`);
    return;
  }
  return entry.run(rest);
}

/** Output cut short by the reader (`rdmq status | head`) is a normal end, not an error. */
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main().catch((err: Error & { code?: string }) => {
  if (err.name === 'TypeError' && err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') usageError(`unknown option ${/'[^']*'/.exec(err.message)?.[0] ?? err.message}`);
  if (err.name === 'TypeError' && err.code?.startsWith('ERR_PARSE_ARGS')) usageError(err.message.split('\n')[0]);
  fail(err.message);
});
