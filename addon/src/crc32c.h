// CRC32C (Castagnoli), as Kafka record batches and rdmq's own headers use it.
// Pure computation: safe to call from any thread.
#pragma once
#include <napi.h>
#include <cstddef>
#include <cstdint>

namespace rdmq {

/** CRC32C of `length` bytes at `data`, continuing from `initial` (the CRC of what came before). */
uint32_t Crc32c(uint32_t initial, const uint8_t* data, size_t length);

/**
 * Blocks of this many bytes get CRCs of their own where a put is copied in
 * (Crc32cBlocks), and a check later joins them (Crc32cWithBlocks).
 */
constexpr size_t kCrcBlockBytes = 4096;

/**
 * The raw CRC32C register (no inversion before or after, starting from 0) of
 * each whole block of kCrcBlockBytes in [data + firstBlockOffset, data + length),
 * into out[0 .. count). The caller makes sure `count` blocks fit.
 */
void Crc32cBlocks(const uint8_t* data, size_t firstBlockOffset, uint32_t* out, size_t count);

/**
 * CRC32C of `length` bytes at `data` where the `count` blocks starting at
 * data + head (head < kCrcBlockBytes) have raw CRCs crcs[k], each usable where
 * valid[k] is nonzero (the others are read). The bytes before the first block
 * and after the last are read.
 */
uint32_t Crc32cWithBlocks(const uint8_t* data, size_t length, size_t head, const uint32_t* crcs, const uint8_t* valid, size_t count);

/** True when Crc32c uses CPU instructions (x86-64 SSE4.2) rather than tables. */
bool Crc32cHasHardware();

/** crc32c(bytes: Uint8Array, initial: number): number */
Napi::Value Crc32cBinding(const Napi::CallbackInfo& info);

/** crc32cBlocks(bytes: Uint8Array, firstBlockOffset: number): Uint32Array */
Napi::Value Crc32cBlocksBinding(const Napi::CallbackInfo& info);

/** crc32cWithBlocks(bytes: Uint8Array, head: number, crcs: Uint32Array, valid: Uint8Array): number */
Napi::Value Crc32cWithBlocksBinding(const Napi::CallbackInfo& info);

}  // namespace rdmq
