import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

describe('gateway metrics', () => {
  let cluster: ClusterProcess;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '128M', segmentSize: '4M' });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('counts Kafka requests and latency by API, errors by code and open connections on /metrics', async () => {
    const kafka = new Kafka({ clientId: 'metrics-test', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'metered', messages: [{ value: 'one' }, { value: 'two' }] });
    const admin = kafka.admin();
    await admin.connect();
    await expect(admin.fetchTopicMetadata({ topics: ['not a valid name!'] })).rejects.toThrow();
    const text = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
    await admin.disconnect();
    await producer.disconnect();
    expect(text).toMatch(/rdmq_gateway_requests_total\{api="Produce",role="start"\} [1-9]/);
    expect(text).toMatch(/rdmq_gateway_request_seconds_count\{[^}]*api="Metadata"[^}]*\} [1-9]/);
    expect(text).toMatch(/rdmq_gateway_errors_total\{api="Metadata",code="17",role="start"\} [1-9]/);
    expect(text).toMatch(/rdmq_gateway_connections\{role="start"\} [1-9]/);
    expect(text).toMatch(/rdmq_broker_committed_records_total\{topic="metered",role="start"\} 2/);
  });
});
