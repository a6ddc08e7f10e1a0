// Kafka's default partitioner for keyed messages: murmur2 of the key, made
// positive, modulo the partition count. Same key, same partition as with the
// Java client and kafkajs. Unkeyed messages go round-robin.

export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ data.length) | 0;
  const length4 = data.length & ~3;
  for (let i = 0; i < length4; i += 4) {
    let k = (data[i] & 0xff) | ((data[i + 1] & 0xff) << 8) | ((data[i + 2] & 0xff) << 16) | ((data[i + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = data.length % 4;
  if (tail === 3) h ^= (data[length4 + 2] & 0xff) << 16;
  if (tail >= 2) h ^= (data[length4 + 1] & 0xff) << 8;
  if (tail >= 1) {
    h ^= data[length4] & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export class DefaultPartitioner {
  private counter = 0;

  partition(key: Buffer | null, partitionCount: number): number {
    if (key === null) return this.counter++ % partitionCount;
    return (murmur2(key) & 0x7fffffff) % partitionCount;
  }
}
