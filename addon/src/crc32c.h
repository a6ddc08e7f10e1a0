// CRC32C (Castagnoli), as Kafka record batches and rdmq's own headers use it.
// Pure computation: safe to call from any thread.
#pragma once
#include <napi.h>
#include <cstddef>
#include <cstdint>

namespace rdmq {

/** CRC32C of `length` bytes at `data`, continuing from `initial` (the CRC of what came before). */
uint32_t Crc32c(uint32_t initial, const uint8_t* data, size_t length);

/** True when Crc32c uses CPU instructions (x86-64 SSE4.2) rather than tables. */
bool Crc32cHasHardware();

/** crc32c(bytes: Uint8Array, initial: number): number */
Napi::Value Crc32cBinding(const Napi::CallbackInfo& info);

}  // namespace rdmq
