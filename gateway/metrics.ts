// The gateway's Prometheus metrics: Kafka requests and their latency by API,
// error codes answered (top level and per partition), open connections.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class GatewayMetrics {
  private readonly requests: Counter<'api'>;
  private readonly latency: Histogram<'api'>;
  private readonly errors: Counter<'api' | 'code'>;
  readonly connections: Gauge;

  constructor(private readonly registry: Registry) {
    this.requests = new Counter({ name: 'rdmq_gateway_requests_total', help: 'Kafka requests served, by API', labelNames: ['api'], registers: [registry] });
    this.latency = new Histogram({
      name: 'rdmq_gateway_request_seconds',
      help: 'Kafka request latency from decode to response, by API',
      labelNames: ['api'],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    });
    this.errors = new Counter({ name: 'rdmq_gateway_errors_total', help: 'Kafka error codes answered, by API and code', labelNames: ['api', 'code'], registers: [registry] });
    this.connections = new Gauge({ name: 'rdmq_gateway_connections', help: 'Open Kafka connections', registers: [registry] });
  }

  /** Exposes how many fast-path writes Produce batches took (`groups`: read at each scrape, the current link's). */
  observeProduceGroups(groups: () => { writesStarted: number; batchesStarted: number }): void {
    const registry = this.registry;
    new Gauge({ name: 'rdmq_gateway_produce_writes', help: 'Fast-path writes (stage, put, commit) started for Produce batches', registers: [registry], collect() { this.set(groups().writesStarted); } });
    new Gauge({ name: 'rdmq_gateway_produce_batches', help: 'Produce batches written; above rdmq_gateway_produce_writes when waiting batches of a partition were folded into one write', registers: [registry], collect() { this.set(groups().batchesStarted); } });
  }

  /** Exposes the bytes the partition readers hold read ahead (`fetchers`: read at each scrape, the current link's). */
  observeFetchers(fetchers: () => { readAheadBytes: number }): void {
    new Gauge({ name: 'rdmq_gateway_fetch_read_ahead_bytes', help: 'Bytes read ahead for consumers that will fetch them next (within fetchReadAheadBytes)', registers: [this.registry], collect() { this.set(fetchers().readAheadBytes); } });
  }

  /** Starts timing a request; call the result with the response body when it is answered. */
  begin(api: string): (response: unknown) => void {
    const end = this.latency.startTimer({ api });
    return (response) => {
      end();
      this.requests.inc({ api });
      countErrors(response, (code) => this.errors.inc({ api, code: String(code) }));
    };
  }
}

/** Visits every `errorCode` field ≠ 0 in a response body (top level and nested partitions). */
function countErrors(value: unknown, found: (code: number) => void, depth = 0): void {
  if (depth > 6 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return;
  if (Array.isArray(value)) {
    for (const item of value) countErrors(item, found, depth + 1);
    return;
  }
  // for-in, not Object.entries: this runs for every response, and builds no arrays.
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const field = record[key];
    if (key === 'errorCode') {
      if (typeof field === 'number' && field !== 0) found(field);
    } else if (typeof field === 'object') countErrors(field, found, depth + 1);
  }
}
