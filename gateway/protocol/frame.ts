// Splits a TCP byte stream into Kafka frames (4-byte big-endian size, then
// that many bytes). Frames that arrive whole inside one chunk are returned as
// views of that chunk; a frame spread over several chunks is copied once when
// its last byte arrives, into a buffer from `allocate` (the caller may reuse
// buffers). Each byte is copied at most once: linear in input. Until a frame
// is complete only the chunks that arrived are held, so a size prefix alone
// never makes the splitter allocate.
//
// Contract: not safe to share between connections. After a FrameError the
// stream is out of sync and the splitter refuses further input; close the
// connection.

import { ProtocolError } from './errors';

export class FrameError extends ProtocolError {
  constructor(
    readonly frameSizeBytes: number,
    readonly maxFrameBytes: number,
  ) {
    super(
      'INVALID_REQUEST',
      frameSizeBytes < 0
        ? `frame size ${frameSizeBytes} is negative`
        : `frame of ${frameSizeBytes} bytes exceeds the maximum of ${maxFrameBytes} bytes`,
    );
    this.name = 'FrameError';
  }
}

const sizePrefixBytes = 4;

/** Returns a buffer of exactly `sizeBytes` for a frame to be assembled in. */
export type FrameAllocator = (sizeBytes: number) => Buffer;

const allocateFresh: FrameAllocator = (sizeBytes) => Buffer.allocUnsafe(sizeBytes);

export class FrameSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the frame being assembled from `pending`, or -1 until its prefix is complete. */
  private frameBytes = -1;
  private failure: FrameError | null = null;

  constructor(
    readonly maxFrameBytes: number,
    private readonly allocate: FrameAllocator = allocateFresh,
  ) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > 0x7fffffff) {
      throw new RangeError(`maxFrameBytes must be an integer in 0..2^31-1, got ${maxFrameBytes}`);
    }
  }

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds a chunk; returns the frames it completed (without size prefixes), in order. */
  push(chunk: Buffer): Buffer[] {
    if (this.failure) throw this.failure;
    const frames: Buffer[] = [];
    let rest = chunk;
    if (this.pendingBytes > 0) {
      rest = this.completePending(chunk, frames);
      if (this.pendingBytes > 0) return frames;
    }
    let at = 0;
    while (rest.length - at >= sizePrefixBytes) {
      const size = this.checkSize(rest.readInt32BE(at));
      if (rest.length - at - sizePrefixBytes < size) break;
      frames.push(rest.subarray(at + sizePrefixBytes, at + sizePrefixBytes + size));
      at += sizePrefixBytes + size;
    }
    if (at < rest.length) this.keep(rest.subarray(at));
    return frames;
  }

  private checkSize(size: number): number {
    if (size < 0 || size > this.maxFrameBytes) {
      this.failure = new FrameError(size, this.maxFrameBytes);
      throw this.failure;
    }
    return size;
  }

  private keep(part: Buffer): void {
    this.pending.push(part);
    this.pendingBytes += part.length;
    if (this.frameBytes < 0 && this.pendingBytes >= sizePrefixBytes) {
      this.frameBytes = this.checkSize(this.readPendingPrefix());
    }
  }

  /** Copies the pending parts, prefix left out, into one buffer of the frame's size. */
  private assemble(): Buffer {
    const frame = this.allocate(this.frameBytes);
    if (frame.length !== this.frameBytes) throw new RangeError(`frame allocator returned ${frame.length} bytes for a ${this.frameBytes}-byte frame`);
    let skip = sizePrefixBytes;
    let at = 0;
    for (const part of this.pending) {
      if (skip >= part.length) {
        skip -= part.length;
        continue;
      }
      at += part.copy(frame, at, skip);
      skip = 0;
    }
    return frame;
  }

  private readPendingPrefix(): number {
    const first = this.pending[0];
    if (first.length >= sizePrefixBytes) return first.readInt32BE(0);
    return Buffer.concat(this.pending, this.pendingBytes).readInt32BE(0);
  }

  /** Adds `chunk` to the pending partial frame; when complete, emits it and returns the unused tail. */
  private completePending(chunk: Buffer, frames: Buffer[]): Buffer {
    if (this.frameBytes < 0) {
      const missing = sizePrefixBytes - this.pendingBytes;
      if (chunk.length < missing) {
        this.keep(chunk);
        return chunk.subarray(chunk.length);
      }
      this.keep(chunk.subarray(0, missing));
      chunk = chunk.subarray(missing);
    }
    const needed = sizePrefixBytes + this.frameBytes - this.pendingBytes;
    if (chunk.length < needed) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return chunk.subarray(chunk.length);
    }
    this.pending.push(chunk.subarray(0, needed));
    frames.push(this.assemble());
    this.pending = [];
    this.pendingBytes = 0;
    this.frameBytes = -1;
    return chunk.subarray(needed);
  }
}
