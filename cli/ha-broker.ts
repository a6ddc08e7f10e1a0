// `rdmq broker --etcd URL[,URL...]`: one broker of an HA group.
//
// Every broker of the group campaigns for leadership through etcd
// (broker/leader-election.ts). The leader serves: it claims the storage node
// with its term's epoch (every storage call carries it, so the node refuses
// an older leader), opens the broker on the metadata log kept in etcd
// (broker/etcd-metadata-log.ts), sealing every open segment so late puts
// granted by the previous leader land nowhere new, and runs the Kafka
// gateway on --kafka as `rdmq broker` always does.
//
// A standby serves its control address with NOT_LEADER answers naming the
// leader, and runs a gateway of its own on --kafka that follows the leader
// (like `rdmq gateway --control`), so Kafka clients bootstrapped on any
// broker of the group keep working across a failover.
//
// A leader that loses its lease or cannot reach etcd steps down at once: its
// storage client and metadata log refuse every further write before anything
// else runs, then the broker is closed and the process becomes a standby and
// campaigns again.
import { randomUUID } from 'crypto';
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import { Transport } from '../addon';
import { EtcdMetadataLog, EtcdMetadataLogError, LeaderElection, LeaderRecord, RemoteStorage, ReplicatedStorage, StorageBackend } from '../broker';
import { advertisable, RunningRemoteGateway, startRemoteGateway } from '../gateway';
import { gatewayLimitsOf, ServerConfig, splitHostPort } from './config';
import { newRegistry } from './metrics-server';
import { ownDataDir, RunningNode, serveBroker, withGateway } from './node';
import { startStandbyControlServer, StandbyControlServer } from './standby-control';
import { kafkaListenersOf } from './security-config';

type Log = (message: string) => void;

export interface RunningHaBroker {
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  kafkaPort: number;
  election: LeaderElection;
  /** 'leader' while this broker serves, 'standby' otherwise. */
  readonly role: 'leader' | 'standby';
  close(): Promise<void>;
}

/** A wait before campaigning again after a term that could not start, so another broker gets its turn. */
const RESIGN_HOLD_OFF_MS = 1000;

export async function startHaBroker(config: ServerConfig, log: Log = () => undefined): Promise<RunningHaBroker> {
  if (!config.storage) throw new Error('rdmq broker needs --storage HOST:PORT[,HOST:PORT...] (the storage nodes\' control addresses)');
  if (!config.etcd) throw new Error('an HA broker needs --etcd URL');
  const control = splitHostPort(config.control);
  const kafka = splitHostPort(config.kafka);
  if (control.port === 0 || kafka.port === 0) throw new Error('an HA broker needs fixed --control and --kafka ports: clients and the other brokers find it there');
  return ownDataDir(config, 'rdmq broker', async () => new HaBroker(config, log).start());
}

class HaBroker {
  private readonly client: Etcd3;
  private readonly election: LeaderElection;
  private readonly controlAddress: string;
  /** Transitions (leader ↔ standby) run one at a time, in order. */
  private transitions: Promise<unknown> = Promise.resolve();
  private leader: { node: RunningNode; storage: StorageBackend; metadata?: EtcdMetadataLog<unknown, object>; epoch: string } | undefined;
  /** The epoch whose term ended; its control server refuses every call from then on, while it closes. */
  private endedEpoch: string | undefined;
  private standby: { server: StandbyControlServer; gateway?: RunningRemoteGateway; stopped: AbortController; starting?: Promise<void> } | undefined;
  private closed = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Log,
  ) {
    const control = splitHostPort(config.control);
    this.controlAddress = `${config.advertisedHost ?? advertisable(control.host)}:${control.port}`;
    this.client = new Etcd3({
      hosts: config.etcd!,
      dialTimeout: 1000,
      // Leadership decisions need answers within the lease: no call waits longer than a second and a half.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 1500 }),
      // No retries or circuit breaker: the election polls again by itself, and a returning etcd is used at once.
      faultHandling: { host: () => noop, global: noop },
      grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    });
    this.election = new LeaderElection({
      client: this.client,
      prefix: config.etcdPrefix,
      brokerId: randomUUID(),
      control: this.controlAddress,
      leaseTtlS: config.etcdLeaseTtl,
      log,
      faultIgnoreDeposition: process.env.RDMQ_FAULT_IGNORE_DEPOSITION === '1',
    });
  }

  async start(): Promise<RunningHaBroker> {
    await this.becomeStandby();
    this.election.on('elected', (term: LeaderRecord) => this.enqueue(() => this.becomeLeader(term)));
    this.election.on('deposed', (reason: string) => {
      // At once, before any request of this turn is served: no more writes to storage or metadata.
      this.fenceLeader(reason);
      this.enqueue(() => this.stepDown());
    });
    this.election.start();
    const self = this;
    return {
      controlPort: splitHostPort(this.config.control).port,
      fastpathPort: splitHostPort(this.config.fastpath).port,
      metricsPort: splitHostPort(this.config.metrics).port,
      kafkaPort: splitHostPort(this.config.kafka).port,
      election: this.election,
      get role() {
        return self.leader ? 'leader' : 'standby';
      },
      close: () => this.close(),
    };
  }

  private enqueue(step: () => Promise<void>): void {
    this.transitions = this.transitions.then(step).catch((err: Error) => this.log(`broker group transition failed: ${err.stack ?? err.message}`));
  }

  private async becomeLeader(term: LeaderRecord): Promise<void> {
    if (this.closed || this.election.currentTerm?.epoch !== term.epoch) return;
    const startedMs = Date.now();
    await this.stopStandby();
    let storage: StorageBackend | undefined;
    let metadata: EtcdMetadataLog<unknown, object> | undefined;
    try {
      // The first call carries the epoch: the storage node refuses the previous leader from here on.
      const addresses = this.config.storage!;
      storage =
        addresses.length === 1
          ? await RemoteStorage.connect(addresses[0], { leaderEpoch: BigInt(term.epoch) })
          : await ReplicatedStorage.connect(addresses, { leaderEpoch: BigInt(term.epoch) });
      const node = await serveBroker(this.config, new Transport(), storage, this.log, newRegistry('broker'), {
        sealOpenSegmentsOnOpen: true,
        deposed: () => (this.endedEpoch === term.epoch || this.election.currentTerm?.epoch !== term.epoch ? { leader: this.knownLeaderControl() } : undefined),
        openMetadataSink: async (options) => {
          metadata = (await EtcdMetadataLog.open({
            ...options,
            client: this.client,
            prefix: this.config.etcdPrefix,
            leaderKey: this.election.leaderKey,
            epoch: term.epoch,
            onFailure: (err: EtcdMetadataLogError) => this.resign(`the metadata log in etcd failed: ${err.message}`),
          })) as unknown as EtcdMetadataLog<unknown, object>;
          return metadata as never;
        },
      });
      this.leader = { node: await withGateway(node, this.config, this.log), storage, metadata, epoch: term.epoch };
    } catch (err) {
      storage?.close();
      this.log(`could not take over as leader (epoch ${term.epoch}): ${(err as Error).message}`);
      this.resign('the broker did not open');
      return;
    }
    if (this.election.currentTerm?.epoch !== term.epoch) {
      this.fenceLeader('the term ended while the broker opened');
      await this.stepDown();
      return;
    }
    this.log(`serving as leader (epoch ${term.epoch}); took over in ${Date.now() - startedMs} ms after the election`);
  }

  /** Writes of this term are refused from now on: the storage client is closed and the metadata log fails. */
  private fenceLeader(reason: string): void {
    if (!this.leader) return;
    this.endedEpoch = this.leader.epoch;
    this.leader.metadata?.depose(`this broker stepped down: ${reason}`);
    this.leader.storage.close();
  }

  private async stepDown(): Promise<void> {
    const leader = this.leader;
    this.leader = undefined;
    if (leader) {
      await leader.node.close().catch((err: Error) => this.log(`closing the deposed broker: ${err.message}`));
      this.log(`no longer serving (epoch ${leader.epoch} ended)`);
    }
    if (!this.closed) await this.becomeStandby();
  }

  private resign(reason: string): void {
    this.log(`resigning leadership: ${reason}`);
    void this.election.resign(RESIGN_HOLD_OFF_MS);
  }

  private async becomeStandby(): Promise<void> {
    if (this.standby || this.closed) return;
    const server = await bindWithRetry(() => startStandbyControlServer(splitHostPort(this.config.control), () => this.knownLeaderControl()));
    const standby: NonNullable<HaBroker['standby']> = { server, stopped: new AbortController() };
    this.standby = standby;
    standby.starting = this.runStandbyGateway(standby);
  }

  private knownLeaderControl(): string | undefined {
    const leader = this.election.knownLeader;
    return leader && leader.control !== this.controlAddress ? leader.control : undefined;
  }

  /** A gateway following the leader on this broker's Kafka port, started once some leader serves. */
  private async runStandbyGateway(standby: NonNullable<HaBroker['standby']>): Promise<void> {
    const kafka = splitHostPort(this.config.kafka);
    while (!standby.stopped.signal.aborted) {
      const leader = this.knownLeaderControl();
      if (leader) {
        try {
          const gateway = await startRemoteGateway({
            // Its own address too: when this leader goes, this broker's standby answer names the next one.
            control: `${leader},${this.controlAddress}`,
            host: kafka.host,
            port: kafka.port,
            advertisedHost: this.config.advertisedHost ?? advertisable(kafka.host),
            listeners: kafkaListenersOf(this.config),
            limits: gatewayLimitsOf(this.config),
            log: this.log,
            signal: standby.stopped.signal,
          });
          if (standby.stopped.signal.aborted) await gateway.close();
          else standby.gateway = gateway;
          return;
        } catch (err) {
          if (standby.stopped.signal.aborted) return;
          this.log(`standby gateway: ${(err as Error).message}; trying again`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async stopStandby(): Promise<void> {
    const standby = this.standby;
    if (!standby) return;
    this.standby = undefined;
    // A start still looking for the old leader ends now: this broker is about to be the leader it would wait for.
    standby.stopped.abort(new Error('the standby is stopping'));
    await standby.starting;
    await standby.gateway?.close().catch((err: Error) => this.log(`closing the standby gateway: ${err.message}`));
    await standby.server.close();
  }

  private async close(): Promise<void> {
    this.closed = true;
    // Revoking the lease hands leadership over now, not after the TTL.
    await this.election.close();
    await this.transitions;
    if (this.leader) {
      this.fenceLeader('shutting down');
      await this.leader.node.close().catch(() => undefined);
      this.leader = undefined;
    }
    await this.stopStandby();
    this.client.close();
  }
}

/** A port just released (the leader's or standby's server closed) may take a moment to bind again. */
async function bindWithRetry<T>(bind: () => Promise<T>, attempts = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await bind();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
