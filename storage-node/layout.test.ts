import { crc32c } from '../addon';
import {
  computeGeometry,
  decodeSegmentHeaderCopy,
  dataCapacityOf,
  maxDataCapacity,
  segmentDataOffset,
  SLOT_SIZE_BYTES,
  slotOffset,
  slotsForDataCapacity,
  decodeIdCounter,
  decodeSuperblock,
  encodeIdCounter,
  encodeSegmentHeader,
  encodeSuperblock,
  idCounterCopyOffset,
  readSegmentHeader,
  SEGMENT_COMMIT_LINE_OFFSET,
  SEGMENT_HEADER_COPY_BYTES,
  SEGMENT_HEADER_PAGE_BYTES,
  segmentHeaderCopyOffset,
  SegmentHeader,
  SegmentState,
  SUPERBLOCK_BYTES,
} from './layout';

const MiB = 1024 * 1024;

function header(overrides: Partial<SegmentHeader> = {}): SegmentHeader {
  return {
    state: SegmentState.OPEN,
    sequence: 1,
    segmentId: 7,
    topicId: 3,
    partition: 2,
    baseOffset: 1000n,
    startPosition: 0,
    slotCount: 3,
    createdAtMs: 1_700_000_000_000,
    sealedAtMs: 0,
    commitPosition: 4096,
    writePosition: 8192,
    endOffset: 1042n,
    maxTimestamp: 1_700_000_000_123n,
    ...overrides,
  };
}

function pageWith(...copies: SegmentHeader[]): Buffer {
  const page = Buffer.alloc(SEGMENT_HEADER_PAGE_BYTES);
  for (const copy of copies) encodeSegmentHeader(copy).copy(page, segmentHeaderCopyOffset(copy.sequence));
  return page;
}

describe('region geometry', () => {
  it('puts the superblock in the first slot and splits the rest into 64 KiB slots', () => {
    const g = computeGeometry(16 * MiB, 1 * MiB);
    expect(g.slotsOffset).toBe(SLOT_SIZE_BYTES);
    expect(g.slotSizeBytes).toBe(64 * 1024);
    expect(g.slotCount).toBe(255);
    expect(slotOffset(g, 2)).toBe(3 * 64 * 1024);
    expect(segmentDataOffset(g, 2)).toBe(3 * 64 * 1024 + 4096);
  });

  it('sizes a segment in whole slots around its header page', () => {
    const g = computeGeometry(16 * MiB, 1 * MiB);
    expect(slotsForDataCapacity(g, 1)).toBe(1);
    expect(slotsForDataCapacity(g, 64 * 1024 - 4096)).toBe(1);
    expect(slotsForDataCapacity(g, 64 * 1024 - 4095)).toBe(2);
    expect(slotsForDataCapacity(g, MiB - 4096)).toBe(16);
    expect(dataCapacityOf(g, 16)).toBe(MiB - 4096);
    expect(maxDataCapacity(g)).toBe(2 * 1024 * MiB - 64 * 1024 - 4096);
  });

  it.each([
    [16 * MiB, 1000, /whole number of 4096-byte pages/],
    [16 * MiB, 32 * 1024, /outside 65536\.\./],
    [16 * MiB + 1, 1 * MiB, /region size/],
    [1 * MiB, 1 * MiB, /holds no segment/],
  ])('refuses region %d bytes with segments of %d bytes', (region, segment, message) => {
    expect(() => computeGeometry(region, segment)).toThrow(message);
  });
});

describe('superblock', () => {
  it('round-trips every field', () => {
    const sb = {
      formatVersion: 2,
      segmentHeaderBytes: 4096,
      regionSizeBytes: 4 * 1024 * MiB,
      slotSizeBytes: 64 * 1024,
      slotCount: 65535,
      slotsOffset: 64 * 1024,
      nodeUuid: '0f8fad5b-d9cb-469f-a165-70867728950e',
      createdAtMs: 1_700_000_000_000,
    };
    const page = encodeSuperblock(sb);
    expect(page.subarray(0, 8).toString('ascii')).toBe('RDMQSTOR');
    expect(decodeSuperblock(page)).toEqual({ kind: 'valid', superblock: sb });
  });

  it('reads an all-zero page as empty and a damaged one as foreign', () => {
    expect(decodeSuperblock(Buffer.alloc(SUPERBLOCK_BYTES)).kind).toBe('empty');
    const page = encodeSuperblock({
      formatVersion: 2,
      segmentHeaderBytes: 4096,
      regionSizeBytes: 16 * MiB,
      slotSizeBytes: 64 * 1024,
      slotCount: 255,
      slotsOffset: 64 * 1024,
      nodeUuid: '0f8fad5b-d9cb-469f-a165-70867728950e',
      createdAtMs: 1,
    });
    page[20] ^= 1;
    expect(decodeSuperblock(page)).toMatchObject({ kind: 'foreign', reason: expect.stringMatching(/CRC32C/) });
    expect(decodeSuperblock(Buffer.from('hello world'.padEnd(4096, 'x')))).toMatchObject({ kind: 'foreign' });
  });

  it('keeps the newest valid copy of the segment id counter', () => {
    const page = Buffer.alloc(SUPERBLOCK_BYTES);
    expect(decodeIdCounter(page)).toBeUndefined();
    encodeIdCounter({ sequence: 4, nextSegmentId: 10 }).copy(page, idCounterCopyOffset(4));
    encodeIdCounter({ sequence: 5, nextSegmentId: 11 }).copy(page, idCounterCopyOffset(5));
    expect(decodeIdCounter(page)).toEqual({ sequence: 5, nextSegmentId: 11 });
    page[idCounterCopyOffset(5) + 8] ^= 0xff; // torn write of the newer copy
    expect(decodeIdCounter(page)).toEqual({ sequence: 4, nextSegmentId: 10 });
  });
});

describe('segment header', () => {
  it('round-trips every field through one 128-byte copy', () => {
    const h = header({ state: SegmentState.SEALED, sealedAtMs: 1_700_000_000_999, endOffset: (1n << 62n) + 5n, slotCount: 0x10203 });
    const copy = encodeSegmentHeader(h);
    expect(copy.length).toBe(SEGMENT_HEADER_COPY_BYTES);
    expect(readSegmentHeader(pageWith(h))).toEqual({ kind: 'valid', header: h, invalidCopies: 0 });
  });

  it('keeps the commit position and the end offset in one cache line', () => {
    const copy = encodeSegmentHeader(header({ commitPosition: 0x01020304, endOffset: 0x0a0b0c0dn }));
    const line = copy.subarray(SEGMENT_COMMIT_LINE_OFFSET, SEGMENT_COMMIT_LINE_OFFSET + 64);
    expect(line.indexOf(Buffer.from([4, 3, 2, 1]))).toBeGreaterThanOrEqual(0);
    expect(line.indexOf(Buffer.from([0x0d, 0x0c, 0x0b, 0x0a]))).toBeGreaterThanOrEqual(0);
  });

  it('picks the copy with the higher sequence when both are valid', () => {
    const older = header({ sequence: 8, commitPosition: 100 });
    const newer = header({ sequence: 9, commitPosition: 200 });
    expect(readSegmentHeader(pageWith(older, newer))).toMatchObject({ kind: 'valid', header: { commitPosition: 200 } });
  });

  it('falls back to the older copy when the newer one is torn', () => {
    const older = header({ sequence: 8, commitPosition: 100 });
    const newer = header({ sequence: 9, commitPosition: 200 });
    const page = pageWith(older, newer);
    page[segmentHeaderCopyOffset(9) + SEGMENT_COMMIT_LINE_OFFSET] ^= 0x40;
    expect(readSegmentHeader(page)).toEqual({ kind: 'valid', header: older, invalidCopies: 1 });
  });

  it('does not read a version-1 header (fixed-size segments, no slot count) as a header', () => {
    const copy = encodeSegmentHeader(header());
    copy.writeUInt16LE(1, 4);
    copy.writeUInt32LE(crc32c(copy.subarray(0, 124)), 124);
    expect(decodeSegmentHeaderCopy(copy)).toBeUndefined();
  });

  it('reports an all-zero header as zeroed and two broken copies as corrupt', () => {
    expect(readSegmentHeader(Buffer.alloc(SEGMENT_HEADER_PAGE_BYTES))).toEqual({ kind: 'zeroed' });
    const page = pageWith(header({ sequence: 1 }), header({ sequence: 2 }));
    page[5] ^= 1;
    page[SEGMENT_HEADER_COPY_BYTES + 5] ^= 1;
    expect(readSegmentHeader(page)).toEqual({ kind: 'corrupt' });
  });
});
