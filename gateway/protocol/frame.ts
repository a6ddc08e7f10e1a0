// Splits a TCP byte stream into Kafka frames (4-byte big-endian size, then
// that many bytes). Frames that arrive whole inside one chunk are returned as
// views of that chunk; a frame spread over several chunks is copied into a
// buffer from `allocate` (the caller may reuse buffers, and may bound how
// much it hands out), chunk by chunk as they arrive, so the socket's reads
// are let go at once rather than held until the frame is whole. Each byte is
// copied at most once: linear in input.
//
// `allocate` may decline (return undefined): the splitter then keeps the
// chunks it has and asks again on the next push (an empty push is enough),
// so a caller that pauses its socket until memory is free holds at most the
// read that brought the size prefix. A frame that completes while declined is
// copied into a fresh buffer: its bytes are all here already.
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

/** Returns a buffer of exactly `sizeBytes` for a frame to be assembled in, or undefined for "not yet". */
export type FrameAllocator = (sizeBytes: number) => Buffer | undefined;

const allocateFresh: FrameAllocator = (sizeBytes) => Buffer.allocUnsafe(sizeBytes);

export class FrameSplitter {
  /** Chunks of the partial frame while it has no buffer (prefix included). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the frame being assembled, or -1 until its prefix is complete. */
  private frameBytes = -1;
  /** The partial frame's buffer once allocated, and how much of it is filled. */
  private frame: Buffer | undefined;
  private filledBytes = 0;
  private failure: FrameError | null = null;

  constructor(
    readonly maxFrameBytes: number,
    private readonly allocate: FrameAllocator = allocateFresh,
  ) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > 0x7fffffff) {
      throw new RangeError(`maxFrameBytes must be an integer in 0..2^31-1, got ${maxFrameBytes}`);
    }
  }

  /** Bytes received but not yet returned as a frame (size prefix included). */
  get bufferedBytes(): number {
    return this.frame ? sizePrefixBytes + this.filledBytes : this.pendingBytes;
  }

  /** Bytes this splitter holds: the whole buffer of a partial frame once allocated, else the chunks it keeps. */
  get heldBytes(): number {
    return this.frame ? this.frame.length : this.pendingBytes;
  }

  /** True while a partial frame's size is known but it has no buffer yet (the allocator declined). */
  get awaitingBuffer(): boolean {
    return this.frameBytes >= 0 && this.frame === undefined;
  }

  /** Feeds a chunk; returns the frames it completed (without size prefixes), in order. */
  push(chunk: Buffer): Buffer[] {
    if (this.failure) throw this.failure;
    const frames: Buffer[] = [];
    let rest = chunk;
    if (this.pendingBytes > 0 || this.frame) {
      rest = this.completePartial(chunk, frames);
      if (this.pendingBytes > 0 || this.frame) return frames;
    }
    let at = 0;
    while (rest.length - at >= sizePrefixBytes) {
      const size = this.checkSize(rest.readInt32BE(at));
      if (rest.length - at - sizePrefixBytes < size) break;
      frames.push(rest.subarray(at + sizePrefixBytes, at + sizePrefixBytes + size));
      at += sizePrefixBytes + size;
    }
    if (at < rest.length) this.startPartial(rest.subarray(at));
    return frames;
  }

  private checkSize(size: number): number {
    if (size < 0 || size > this.maxFrameBytes) {
      this.failure = new FrameError(size, this.maxFrameBytes);
      throw this.failure;
    }
    return size;
  }

  private startPartial(part: Buffer): void {
    this.pending.push(part);
    this.pendingBytes += part.length;
    if (this.pendingBytes >= sizePrefixBytes) {
      this.frameBytes = this.checkSize(this.readPendingPrefix());
      this.tryAllocate();
    }
  }

  /** Moves the kept chunks into a buffer for the frame, if the allocator gives one now. */
  private tryAllocate(): void {
    const frame = this.allocate(this.frameBytes);
    if (frame === undefined) return;
    if (frame.length !== this.frameBytes) throw new RangeError(`frame allocator returned ${frame.length} bytes for a ${this.frameBytes}-byte frame`);
    this.frame = frame;
    this.filledBytes = 0;
    let skip = sizePrefixBytes;
    for (const part of this.pending) {
      if (skip >= part.length) {
        skip -= part.length;
        continue;
      }
      this.filledBytes += part.copy(frame, this.filledBytes, skip);
      skip = 0;
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  private readPendingPrefix(): number {
    const first = this.pending[0];
    if (first.length >= sizePrefixBytes) return first.readInt32BE(0);
    return Buffer.concat(this.pending, this.pendingBytes).readInt32BE(0);
  }

  /** Adds `chunk` to the partial frame; when complete, emits it and returns the unused tail. */
  private completePartial(chunk: Buffer, frames: Buffer[]): Buffer {
    if (this.frameBytes < 0) {
      const missing = sizePrefixBytes - this.pendingBytes;
      if (chunk.length < missing) {
        this.startPartial(chunk);
        return chunk.subarray(chunk.length);
      }
      this.startPartial(chunk.subarray(0, missing));
      chunk = chunk.subarray(missing);
    } else if (!this.frame) {
      this.tryAllocate();
    }
    if (this.frame) {
      const needed = this.frameBytes - this.filledBytes;
      const taken = Math.min(needed, chunk.length);
      this.filledBytes += chunk.copy(this.frame, this.filledBytes, 0, taken);
      if (taken < needed) return chunk.subarray(chunk.length);
      frames.push(this.frame);
      this.frame = undefined;
      this.filledBytes = 0;
      this.frameBytes = -1;
      return chunk.subarray(taken);
    }
    // No buffer yet: keep the chunk; the frame's bytes are all here once it completes.
    const needed = sizePrefixBytes + this.frameBytes - this.pendingBytes;
    if (chunk.length < needed) {
      if (chunk.length > 0) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
      return chunk.subarray(chunk.length);
    }
    this.pending.push(chunk.subarray(0, needed));
    frames.push(Buffer.concat(this.pending, this.pendingBytes + needed).subarray(sizePrefixBytes));
    this.pending = [];
    this.pendingBytes = 0;
    this.frameBytes = -1;
    return chunk.subarray(needed);
  }
}
