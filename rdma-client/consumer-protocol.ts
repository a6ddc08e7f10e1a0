// Kafka's consumer protocol (protocol type "consumer"): what a member tells the
// group (its subscription) and what the leader hands each member (its
// assignment), as the Java client, librdkafka and kafkajs encode them, so an
// SDK member can be leader or follower beside any of them.
//
//   Subscription => version:int16 [topic:string] user_data:bytes (v1+: owned partitions, v3+: rack; ignored)
//   Assignment   => version:int16 [topic:string [partition:int32]] user_data:bytes
//
// And the round-robin assignor, offered under kafkajs's name and the Java
// client's: every partition of the subscribed topics, in topic then partition
// order, dealt to the members sorted by member id.
import { RdmqError } from './errors';

export const CONSUMER_PROTOCOL_TYPE = 'consumer';
/** kafkajs's default assignor is "RoundRobinAssigner", the Java client's and librdkafka's is "roundrobin". */
export const ROUND_ROBIN_PROTOCOLS = ['RoundRobinAssigner', 'roundrobin'] as const;

const INVALID_REQUEST = 42;
/** Bounds from the coordinator's side: more topics or partitions than this is not a real member. */
const TOPICS_PER_MEMBER_MAX = 100_000;
const PARTITIONS_PER_TOPIC_MAX = 1_000_000;

export type Assignment = Map<string, number[]>;

export function encodeSubscription(topics: readonly string[]): Buffer {
  const parts: Buffer[] = [int16(0), int32(topics.length), ...topics.map(str), int32(0)];
  return Buffer.concat(parts);
}

export function decodeSubscription(bytes: Buffer): string[] {
  const r = new Reader(bytes, 'subscription');
  r.int16();
  return r.array(TOPICS_PER_MEMBER_MAX, () => r.string());
}

export function encodeAssignment(assignment: Assignment): Buffer {
  const parts: Buffer[] = [int16(0), int32(assignment.size)];
  for (const [topic, partitions] of assignment) parts.push(str(topic), int32(partitions.length), ...partitions.map(int32));
  parts.push(int32(0));
  return Buffer.concat(parts);
}

/** An empty buffer is an empty assignment (the leader left the member out). */
export function decodeAssignment(bytes: Buffer): Assignment {
  const assignment: Assignment = new Map();
  if (bytes.length === 0) return assignment;
  const r = new Reader(bytes, 'assignment');
  r.int16();
  r.array(TOPICS_PER_MEMBER_MAX, () => {
    const topic = r.string();
    assignment.set(topic, r.array(PARTITIONS_PER_TOPIC_MAX, () => r.int32()));
  });
  return assignment;
}

/** Round-robin over every member's subscribed topics; `partitionCounts` knows each topic's partitions. */
export function assignRoundRobin(members: { memberId: string; topics: string[] }[], partitionCounts: Map<string, number>): Map<string, Assignment> {
  const result = new Map<string, Assignment>(members.map((m) => [m.memberId, new Map()]));
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
  let next = 0;
  for (const topic of topics) {
    const subscribers = sorted.filter((m) => m.topics.includes(topic));
    for (let partition = 0; partition < (partitionCounts.get(topic) ?? 0); partition++) {
      // Only members subscribed to the topic take its partitions.
      const member = subscribers[next++ % subscribers.length];
      const assignment = result.get(member.memberId)!;
      assignment.set(topic, [...(assignment.get(topic) ?? []), partition]);
    }
  }
  return result;
}

function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([int16(bytes.length), bytes]);
}

class Reader {
  private at = 0;
  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.at + n > this.bytes.length) throw new RdmqError(`malformed consumer-protocol ${this.what}: needs ${n} bytes at byte ${this.at} of ${this.bytes.length}`, INVALID_REQUEST);
  }
  int16(): number {
    this.need(2);
    const v = this.bytes.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.bytes.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  string(): string {
    const length = this.int16();
    if (length < 0) throw new RdmqError(`malformed consumer-protocol ${this.what}: null string at byte ${this.at}`, INVALID_REQUEST);
    this.need(length);
    const s = this.bytes.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }
  array<T>(max: number, item: () => T): T[] {
    const count = this.int32();
    if (count < 0) return [];
    if (count > max) throw new RdmqError(`malformed consumer-protocol ${this.what}: ${count} entries, at most ${max}`, INVALID_REQUEST);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(item());
    return items;
  }
}
