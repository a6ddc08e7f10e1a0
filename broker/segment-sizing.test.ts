import { nextSegmentDataBytes, segmentDataBytesMax } from './segment-sizing';

const KiB = 1024;
const MiB = 1024 * KiB;
const HEADER = 4 * KiB;

describe('segment sizing', () => {
  it('starts a partition with one 64 KiB slot and doubles each roll up to segment.bytes', () => {
    const segmentBytes = MiB;
    const sizes: number[] = [];
    let previous: number | undefined;
    for (let roll = 0; roll < 7; roll++) {
      previous = nextSegmentDataBytes({ previousDataBytes: previous, neededBytes: 100, segmentBytes });
      sizes.push(previous + HEADER);
    }
    expect(sizes).toEqual([64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, MiB, MiB]);
  });

  it('gives a batch larger than the next step a segment that fits it, still within segment.bytes', () => {
    expect(nextSegmentDataBytes({ neededBytes: 100 * KiB, segmentBytes: 64 * MiB }) + HEADER).toBe(128 * KiB);
    expect(nextSegmentDataBytes({ previousDataBytes: 64 * KiB - HEADER, neededBytes: 3 * MiB, segmentBytes: 64 * MiB }) + HEADER).toBe(4 * MiB);
    expect(nextSegmentDataBytes({ neededBytes: 5 * MiB, segmentBytes: 6 * MiB }) + HEADER).toBe(6 * MiB);
  });

  it('rounds segment.bytes down to whole slots, never above what the topic allows', () => {
    expect(segmentDataBytesMax(100_000)).toBe(64 * KiB - HEADER);
    expect(segmentDataBytesMax(8 * MiB)).toBe(8 * MiB - HEADER);
    expect(nextSegmentDataBytes({ previousDataBytes: 64 * KiB - HEADER, neededBytes: 1, segmentBytes: 100_000 })).toBe(64 * KiB - HEADER);
  });

  it('refuses a batch no segment of the topic can hold as BATCH_TOO_LARGE, naming segment.bytes', () => {
    expect(() => nextSegmentDataBytes({ neededBytes: 8 * MiB, segmentBytes: 8 * MiB })).toThrow(
      'batch of 8388608 bytes exceeds the largest segment of this topic: segment.bytes 8388608 holds 8384512 bytes of batches',
    );
  });
});
