// How large a partition's next segment is. Store space follows the data: a
// partition starts with one storage slot (64 KiB) and each roll doubles the
// segment, up to its topic's segment.bytes; a batch larger than that step gets
// a segment that fits it. So 2,000 quiet partitions take 2,000 slots, and a
// busy one reaches full-size segments after a few rolls.
import { SEGMENT_HEADER_PAGE_BYTES, SLOT_SIZE_BYTES } from '../storage-node';
import { PartitionError } from './partition-state';

/** The largest data area a segment of a topic with this `segment.bytes` has (its size rounded down to whole slots, header page off). */
export function segmentDataBytesMax(segmentBytes: number): number {
  return Math.max(1, Math.floor(segmentBytes / SLOT_SIZE_BYTES)) * SLOT_SIZE_BYTES - SEGMENT_HEADER_PAGE_BYTES;
}

/**
 * The data capacity to ask storage for: double the previous segment (one slot
 * for the first), grown by powers of two until `neededBytes` fit, capped at
 * the topic's largest segment. Throws BATCH_TOO_LARGE when even that cannot
 * hold `neededBytes`.
 */
export function nextSegmentDataBytes(request: { previousDataBytes?: number; neededBytes: number; segmentBytes: number }): number {
  const maxTotal = segmentDataBytesMax(request.segmentBytes) + SEGMENT_HEADER_PAGE_BYTES;
  if (request.neededBytes + SEGMENT_HEADER_PAGE_BYTES > maxTotal) {
    throw batchTooLarge(request.neededBytes, request.segmentBytes);
  }
  let total = request.previousDataBytes === undefined ? SLOT_SIZE_BYTES : 2 * (request.previousDataBytes + SEGMENT_HEADER_PAGE_BYTES);
  while (total - SEGMENT_HEADER_PAGE_BYTES < request.neededBytes) total *= 2;
  return Math.min(total, maxTotal) - SEGMENT_HEADER_PAGE_BYTES;
}

export function batchTooLarge(lengthBytes: number, segmentBytes: number): PartitionError {
  return new PartitionError(
    'BATCH_TOO_LARGE',
    `batch of ${lengthBytes} bytes exceeds the largest segment of this topic: segment.bytes ${segmentBytes} holds ${segmentDataBytesMax(segmentBytes)} bytes of batches`,
  );
}
