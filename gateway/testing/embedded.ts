// Storage node + broker + Kafka gateway in ONE process, for tests (and, until
// `rdmq start` runs the gateway itself, for trying Kafka clients by hand):
//
//   node dist/gateway/testing/embedded.js --data DIR [--kafka HOST:PORT] [--durability flush] ...
//
// Prints one JSON line {"ready":true,"kafkaPort":N,"controlPort":M,"fastpathPort":F} when ready;
// logs go to stderr. SIGTERM/SIGINT shut down in order: gateway, groups, fast path, node.
import { parseArgs } from 'util';
import { loadServerConfig, splitHostPort } from '../../cli/config';
import { startNode } from '../../cli/node';
import { Connection } from '../../rdma-client';
import { GroupCoordinator } from '../broker-view';
import { startGateway } from '../server';

const log = (message: string): void => void process.stderr.write(`${new Date().toISOString()} ${message}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      control: { type: 'string', default: '127.0.0.1:0' },
      fastpath: { type: 'string', default: '127.0.0.1:0' },
      kafka: { type: 'string', default: '127.0.0.1:0' },
      metrics: { type: 'string', default: '127.0.0.1:0' },
      durability: { type: 'string', default: 'flush' },
      'region-size': { type: 'string', default: '512M' },
      'segment-size': { type: 'string', default: '16M' },
      'lease-timeout-ms': { type: 'string', default: '2000' },
      'initial-rebalance-delay-ms': { type: 'string', default: '0' },
      'min-session-timeout-ms': { type: 'string', default: '1000' },
      'no-auto-create': { type: 'boolean', default: false },
      limits: { type: 'string', default: '{}' },
    },
    strict: true,
  });
  if (!values.data) throw new Error('--data DIR is required');
  const config = loadServerConfig({
    data: values.data,
    control: values.control,
    fastpath: values.fastpath,
    kafka: values.kafka,
    metrics: values.metrics,
    durability: values.durability,
    regionSize: values['region-size'],
    segmentSize: values['segment-size'],
    leaseTimeoutMs: values['lease-timeout-ms'],
  });
  const node = await startNode(config, log);
  const connection = await Connection.open({ control: `127.0.0.1:${node.controlPort}` });
  const groups = new GroupCoordinator({
    initialRebalanceDelayMs: Number(values['initial-rebalance-delay-ms']),
    minSessionTimeoutMs: Number(values['min-session-timeout-ms']),
  });
  const kafka = splitHostPort(config.kafka);
  const gateway = await startGateway({
    host: kafka.host,
    port: kafka.port,
    broker: node.broker,
    groups,
    connection,
    nodeId: 0,
    autoCreateTopics: !values['no-auto-create'],
    limits: JSON.parse(values.limits) as object,
    log,
  });
  log(`rdmq embedded: Kafka gateway on ${kafka.host}:${gateway.port}, control on ${node.controlPort}, data in ${config.data}`);
  process.stdout.write(JSON.stringify({ ready: true, kafkaPort: gateway.port, controlPort: node.controlPort, fastpathPort: node.fastpathPort }) + '\n');
  const shutdown = (signal: string): void => {
    log(`${signal}: shutting down`);
    (async () => {
      await gateway.close();
      groups.close();
      await connection.close();
      await node.close();
    })().then(
      () => process.exit(0),
      (err: Error) => {
        log(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: Error) => {
  log(`rdmq embedded failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
