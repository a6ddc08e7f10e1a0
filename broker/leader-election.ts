// Leader election of an HA broker group through etcd.
//
// Every broker holds a lease (TTL `leaseTtlS`) and campaigns by creating the
// leader key `<prefix>/leader` bound to its lease, only if the key does not
// exist (a transaction on its create revision). The winner's term has the
// key's create revision as its epoch: etcd revisions only grow, so a later
// term always has a higher epoch. The leader key holds who leads and where
// clients reach it.
//
// The leader keeps its lease alive and counts it valid only until the send
// time of its last acknowledged keepalive plus the TTL etcd granted, less a
// margin: etcd cannot expire the lease before then, so a leader that stops
// hearing from etcd (etcd down, a partition, or this process paused) steps
// down before anyone else can be elected. It also steps down when the leader
// key is no longer its own. Standbys poll the leader key and campaign when it
// is gone (its lease expired or was revoked).
//
// Contract: `on('elected', epoch)` once per term, then `on('deposed', reason)`
// once when that term ends; a deposed broker campaigns again by itself.
// Not safe to start twice.
import { EventEmitter } from 'events';
import { Etcd3, EtcdLeaseInvalidError, Lease } from 'etcd3';

export interface LeaderRecord {
  brokerId: string;
  /** Where clients reach the leader's control plane (HOST:PORT). */
  control: string;
  /** The term's epoch (the leader key's create revision). */
  epoch: string;
}

export interface LeaderElectionOptions {
  client: Etcd3;
  prefix: string;
  brokerId: string;
  control: string;
  /** Lease TTL in seconds (default 3): a dead leader is replaced after about this long. */
  leaseTtlS?: number;
  /** How often standbys look at the leader key (default 250 ms). */
  pollMs?: number;
  /**
   * Fault injection for tests: a leader that never notices its term ended
   * (as if its clock stood still), to show that the storage nodes and etcd
   * refuse a deposed leader on their own.
   */
  faultIgnoreDeposition?: boolean;
  log?: (message: string) => void;
}

const LEASE_TTL_S_DEFAULT = 3;
const POLL_MS_DEFAULT = 250;
/** How often the leader checks its own lease deadline. */
const DEADLINE_CHECK_MS = 50;

export class LeaderElection extends EventEmitter {
  private closed = false;
  /** No campaign before this time (after resigning, so another broker gets its turn). */
  private holdOffUntilMs = 0;
  private deposedIgnored = false;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  /** Until when (local clock) this broker's lease is certainly alive. */
  private leaseValidUntilMs = 0;
  private term: LeaderRecord | undefined;
  private known: LeaderRecord | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly ttlS: number;
  readonly leaderKey: string;

  constructor(private readonly options: LeaderElectionOptions) {
    super();
    this.ttlS = options.leaseTtlS ?? LEASE_TTL_S_DEFAULT;
    this.leaderKey = `${options.prefix.replace(/\/+$/, '')}/leader`;
  }

  /** This broker's term while it leads and its lease is certainly alive. */
  get currentTerm(): LeaderRecord | undefined {
    if (this.options.faultIgnoreDeposition) return this.term;
    return this.term && Date.now() < this.leaseValidUntilMs ? this.term : undefined;
  }

  /** The leader as last seen in etcd (this broker, another, or none). */
  get knownLeader(): LeaderRecord | undefined {
    return this.term ?? this.known;
  }

  start(): void {
    this.schedulePoll(0);
    this.deadlineTimer = setInterval(() => this.checkDeadline(), DEADLINE_CHECK_MS);
  }

  /** Gives up leadership at once (revoking the lease lets a standby take over without waiting for the TTL). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    clearInterval(this.deadlineTimer);
    if (this.term) this.depose('this broker is shutting down');
    const lease = this.lease;
    this.dropLease();
    await lease?.revoke().catch(() => undefined);
  }

  /** Gives up this term (its broker could not serve): revokes the lease and waits `holdOffMs` before campaigning again. */
  async resign(holdOffMs: number): Promise<void> {
    this.holdOffUntilMs = Date.now() + holdOffMs;
    const lease = this.lease;
    this.dropLease();
    this.depose('resigned');
    await lease?.revoke().catch(() => undefined);
  }

  private schedulePoll(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => void this.poll().finally(() => this.schedulePoll(this.options.pollMs ?? POLL_MS_DEFAULT)), delayMs);
  }

  /** One look at etcd: keep the lease alive, check the leader key, campaign if it is free. */
  private async poll(): Promise<void> {
    try {
      await this.keepLeaseAlive();
      const { client } = this.options;
      const raw = await client.get(this.leaderKey).string();
      const holder = raw === null ? undefined : (JSON.parse(raw) as LeaderRecord);
      if (this.term && holder?.epoch !== this.term.epoch) {
        this.depose(holder ? `broker ${holder.brokerId} leads now (epoch ${holder.epoch})` : 'the leader key is gone (the lease expired)');
      }
      this.known = holder;
      if (holder || this.term || !this.leaseId || this.closed || Date.now() < this.holdOffUntilMs) return;
      await this.campaign();
    } catch (err) {
      // A lease etcd no longer knows (this process was paused past its TTL): the next poll grants a new one.
      if (err instanceof EtcdLeaseInvalidError) this.dropLease();
      // A standby whose lease may have expired meanwhile starts over with a new one too.
      else if (!this.term && Date.now() >= this.leaseValidUntilMs) this.dropLease();
      // etcd did not answer: the deadline check steps a leader down once its lease may have expired.
      this.known = undefined;
      if (!this.term) this.options.log?.(`etcd: ${(err as Error).message}; trying again`);
    }
  }

  private async campaign(): Promise<void> {
    const { client } = this.options;
    const record = { brokerId: this.options.brokerId, control: this.options.control };
    const result = await client
      .if(this.leaderKey, 'Create', '==', 0)
      .then(client.put(this.leaderKey).value(JSON.stringify({ ...record, epoch: '' })).lease(this.leaseId!))
      .commit();
    if (!result.succeeded || this.closed) return;
    const epoch = String(result.header.revision);
    // The epoch is the key's create revision: known only now, so the value is written again under the same lease.
    const term: LeaderRecord = { ...record, epoch };
    const rewrite = await client
      .if(this.leaderKey, 'Create', '==', epoch)
      .then(client.put(this.leaderKey).value(JSON.stringify(term)).lease(this.leaseId!))
      .commit();
    if (!rewrite.succeeded || this.closed || Date.now() >= this.leaseValidUntilMs) return;
    this.term = term;
    this.known = term;
    this.options.log?.(`elected leader of the broker group (epoch ${epoch})`);
    this.emit('elected', term);
  }

  /** Grants a lease when there is none; otherwise renews it when a third of the TTL has passed. */
  private async keepLeaseAlive(): Promise<void> {
    const { client } = this.options;
    const sentMs = Date.now();
    if (!this.lease) {
      const lease = client.lease(this.ttlS, { autoKeepAlive: false });
      lease.on('lost', () => undefined);
      this.lease = lease;
      try {
        this.leaseId = await lease.grant();
      } catch (err) {
        this.dropLease();
        throw err;
      }
      this.leaseValidUntilMs = sentMs + this.ttlS * 1000 - this.marginMs();
      return;
    }
    if (this.leaseValidUntilMs - Date.now() > (this.ttlS * 1000 * 2) / 3 - this.marginMs()) return;
    let ttlS: number;
    try {
      ttlS = Number((await this.lease.keepaliveOnce()).TTL);
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) throw err;
      ttlS = 0;
    }
    if (ttlS <= 0) {
      this.dropLease();
      if (this.term) this.depose('the lease expired in etcd');
      return;
    }
    this.leaseValidUntilMs = sentMs + ttlS * 1000 - this.marginMs();
  }

  private marginMs(): number {
    return Math.min(1000, (this.ttlS * 1000) / 6);
  }

  private checkDeadline(): void {
    if (this.term && Date.now() >= this.leaseValidUntilMs) {
      // A new lease next time: this one may have expired in etcd.
      this.dropLease();
      this.depose('etcd has not renewed the lease in time (etcd unreachable, or this process was paused)');
    }
  }

  private dropLease(): void {
    this.lease?.release();
    this.lease = undefined;
    this.leaseId = undefined;
    this.leaseValidUntilMs = 0;
  }

  private depose(reason: string): void {
    const term = this.term;
    if (!term) return;
    if (this.options.faultIgnoreDeposition && !this.closed) {
      if (!this.deposedIgnored) this.options.log?.(`FAULT INJECTED: not stepping down although ${reason}; the storage nodes and etcd must refuse this broker`);
      this.deposedIgnored = true;
      return;
    }
    this.term = undefined;
    this.options.log?.(`stepped down as leader (epoch ${term.epoch}): ${reason}`);
    this.emit('deposed', reason);
  }
}

