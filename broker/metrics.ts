// The broker's Prometheus metrics. Gauges that mirror state are computed at
// scrape time from the broker itself, so they cannot drift.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Broker } from './broker';
import { ReplicatedStorage } from './replicated-storage';

export class BrokerMetrics {
  readonly fastPathRequests: Counter<'message' | 'outcome'>;
  readonly fastPathLatency: Histogram<'message'>;
  readonly errors: Counter<'code'>;
  readonly committedBytes: Counter<'topic'>;
  readonly committedRecords: Counter<'topic'>;
  /** The fast-path service's open sessions by link, once it is serving (countSessions). */
  private sessionsByLink: (() => { 'in-process': number; ucx: number }) | undefined;

  constructor(registry: Registry, broker: () => Broker | undefined) {
    this.fastPathRequests = new Counter({
      name: 'rdmq_broker_fastpath_requests_total',
      help: 'Fast-path control messages served, by message and outcome',
      labelNames: ['message', 'outcome'],
      registers: [registry],
    });
    this.fastPathLatency = new Histogram({
      name: 'rdmq_broker_fastpath_request_seconds',
      help: 'Time from a fast-path request arriving to its reply, by message',
      labelNames: ['message'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [registry],
    });
    this.errors = new Counter({ name: 'rdmq_broker_errors_total', help: 'Errors returned to clients, by Kafka error code', labelNames: ['code'], registers: [registry] });
    this.committedBytes = new Counter({ name: 'rdmq_broker_committed_bytes_total', help: 'Bytes committed, by topic', labelNames: ['topic'], registers: [registry] });
    this.committedRecords = new Counter({ name: 'rdmq_broker_committed_records_total', help: 'Offsets committed (records and skipped ranges), by topic', labelNames: ['topic'], registers: [registry] });
    /** A gauge per partition; `valueFor` is asked once a scrape for the function that gives each partition's value. */
    const partitionGauge = (name: string, help: string, valueFor: (b: Broker) => (p: ReturnType<Broker['allPartitions']>[number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'],
        registers: [registry],
        collect() {
          this.reset();
          const b = broker();
          if (!b) return;
          const value = valueFor(b);
          for (const p of b.allPartitions()) this.set({ topic: p.topicName, partition: String(p.partition) }, value(p));
        },
      });
    };
    partitionGauge('rdmq_partition_high_watermark', 'Next offset after the committed prefix', () => (p) => Number(p.state.highWatermark()));
    partitionGauge('rdmq_partition_log_start_offset', 'First offset still stored', () => (p) => Number(p.state.logStartOffset()));
    partitionGauge('rdmq_partition_stages_in_flight', 'Stages granted and not yet covered by the commit watermark (commit lag)', () => (p) => p.state.inFlightStageCount());
    partitionGauge('rdmq_partition_segments', 'Segments holding the partition', () => (p) => p.state.segments().length);
    partitionGauge(
      'rdmq_partition_fenced_ranges',
      'Offset ranges whose committed bytes failed their check (at recovery, or by the scrubber): readers get CORRUPT_MESSAGE there until `rdmq corruption skip`',
      () => (p) => p.state.fencedRanges().length,
    );
    partitionGauge(
      'rdmq_partition_under_replicated_segments',
      "Segments of the partition with fewer in-sync copies than its topic's replication factor (a sealed one is copied again to a node that can take it; an open one is sealed)",
      (b) => {
        const short = new Set(b.storage instanceof ReplicatedStorage ? b.storage.underReplicated() : []);
        return (p) => p.state.segments().filter((s) => short.has(s.segmentId)).length;
      },
    );
    new Gauge({
      name: 'rdmq_storage_node_up',
      help: 'Whether each storage node behind a replicating broker (rdmq broker --storage A,B,...) answers its probes: 1, or 0',
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        const storage = broker()?.storage;
        if (storage instanceof ReplicatedStorage) for (const n of storage.nodeStates()) this.set({ node: n.nodeId }, n.up ? 1 : 0);
      },
    });
    const metrics = this;
    new Gauge({
      name: 'rdmq_broker_fastpath_sessions',
      help: 'Open fast-path sessions, by link: ucx, or in-process (a client in the broker\'s own process, as the gateway of rdmq start, whose messages skip UCX)',
      labelNames: ['link'],
      registers: [registry],
      collect() {
        const counts = metrics.sessionsByLink?.() ?? { 'in-process': 0, ucx: 0 };
        for (const [link, n] of Object.entries(counts)) this.set({ link }, n);
      },
    });
    new Gauge({
      name: 'rdmq_topics',
      help: 'Topics',
      registers: [registry],
      collect() {
        this.set(broker()?.metadata.listTopics().length ?? 0);
      },
    });
  }

  /** Where rdmq_broker_fastpath_sessions reads its counts from. */
  countSessions(count: () => { 'in-process': number; ucx: number }): void {
    this.sessionsByLink = count;
  }
}
