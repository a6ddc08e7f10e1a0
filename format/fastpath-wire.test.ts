// The replica keys of STAGE_REPLY and ACQUIRE_REPLY: every copy of a segment
// comes back as listed, and bytes that do not parse exactly are refused.
import { decodeReplicaKeys, encodeReplicaKeys, ReplicaKey, WireError } from './fastpath-wire';

const three: ReplicaKey[] = [
  { node: 'storage-a', address: '10.0.0.1:7410', key: Buffer.from([1, 2, 3, 4, 5]) },
  { node: 'störage-ü', address: '[::1]:7411', key: Buffer.alloc(300, 0xab) },
  { node: 'c', address: 'host.example:65535', key: Buffer.alloc(0) },
];

describe('replica keys', () => {
  it('come back in order with node, address and key exactly as encoded, for one copy and for several', () => {
    expect(decodeReplicaKeys(encodeReplicaKeys(three.slice(0, 1)))).toEqual(three.slice(0, 1));
    expect(decodeReplicaKeys(encodeReplicaKeys(three))).toEqual(three);
  });

  it('decode to keys of their own, not views of the message buffer the transport reuses', () => {
    const bytes = encodeReplicaKeys(three);
    const decoded = decodeReplicaKeys(bytes);
    bytes.fill(0);
    expect(decoded[0].key).toEqual(Buffer.from([1, 2, 3, 4, 5]));
  });

  it('refuse to encode no copy or more than 255', () => {
    expect(() => encodeReplicaKeys([])).toThrow(WireError);
    const many = Array.from({ length: 256 }, (_, i) => ({ node: `n${i}`, address: `h:${i}`, key: Buffer.from([i & 0xff]) }));
    expect(() => encodeReplicaKeys(many)).toThrow(/1 to 255 replicas, not 256/);
    expect(decodeReplicaKeys(encodeReplicaKeys(many.slice(0, 255)))).toHaveLength(255);
  });

  it('refuse every truncation, trailing bytes, a zero count and an empty payload with a WireError', () => {
    const bytes = encodeReplicaKeys(three);
    for (let length = 0; length < bytes.length; length++) expect(() => decodeReplicaKeys(bytes.subarray(0, length))).toThrow(WireError);
    expect(() => decodeReplicaKeys(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/do not parse exactly/);
    expect(() => decodeReplicaKeys(Buffer.from([0]))).toThrow(/0 entries/);
    // A length field claiming more than the message holds.
    const lying = Buffer.from(bytes);
    lying.writeUInt16LE(0xffff, 1);
    expect(() => decodeReplicaKeys(lying)).toThrow(WireError);
  });
});
