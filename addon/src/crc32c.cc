// CRC32C for the produce path, where every batch is checked once by the
// gateway and once more by the storage node before its commit.
//
// Sketch: a 1 MiB batch at 1 GB/s is 1 ms of budget. One crc32 instruction
// folds 8 bytes but has a latency of 3 cycles and a throughput of 1 per cycle,
// so a single dependent chain runs at a third of what the unit can do. We
// run three independent chains over three adjacent blocks and join them with
// the CRC "shift" operator (multiplying by x^(8 * block bytes) mod P), which
// is linear and so reduces to four table lookups per join. Without SSE4.2 a
// slicing-by-8 table loop is used.
#include "crc32c.h"

#include <cstring>
#include <string>

#include "errors.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace rdmq {

namespace {

// The Castagnoli polynomial, bit-reflected: bit 31 is x^0.
constexpr uint32_t kPoly = 0x82f63b78u;
// Block sizes of the three chains: long ones for the bulk, short ones for the rest.
constexpr size_t kLongBytes = 8192;
constexpr size_t kShortBytes = 256;

// a(x) * b(x) mod P, both bit-reflected.
uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return product;
}

// x^n mod P, bit-reflected.
uint32_t XPowerModP(uint64_t n) {
  uint32_t result = 1u << 31;  // x^0
  uint32_t square = 1u << 30;  // x^1, then x^2, x^4, ...
  while (n != 0) {
    if (n & 1) result = MultiplyModP(square, result);
    square = MultiplyModP(square, square);
    n >>= 1;
  }
  return result;
}

// Appending `bytes` zero bytes to a CRC register, as four table lookups.
struct ShiftTable {
  uint32_t byByte[4][256];

  explicit ShiftTable(size_t bytes) {
    uint32_t factor = XPowerModP(8 * static_cast<uint64_t>(bytes));
    for (int k = 0; k < 4; k++) {
      for (uint32_t v = 0; v < 256; v++) byByte[k][v] = MultiplyModP(factor, v << (8 * k));
    }
  }

  uint32_t Apply(uint32_t crc) const {
    return byByte[0][crc & 0xff] ^ byByte[1][(crc >> 8) & 0xff] ^ byByte[2][(crc >> 16) & 0xff] ^ byByte[3][crc >> 24];
  }
};

struct SlicingTables {
  uint32_t slice[8][256];

  SlicingTables() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      slice[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
      for (int k = 1; k < 8; k++) slice[k][n] = (slice[k - 1][n] >> 8) ^ slice[0][slice[k - 1][n] & 0xff];
    }
  }
};

const SlicingTables& Slicing() {
  static const SlicingTables tables;
  return tables;
}

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

// `crc` is the raw register (pre-inverted by the caller).
uint32_t SoftwareUpdate(uint32_t crc, const uint8_t* p, size_t n) {
  const SlicingTables& t = Slicing();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (n >= 8) {
    uint64_t w = Load64(p) ^ crc;
    crc = t.slice[7][w & 0xff] ^ t.slice[6][(w >> 8) & 0xff] ^ t.slice[5][(w >> 16) & 0xff] ^ t.slice[4][(w >> 24) & 0xff] ^
          t.slice[3][(w >> 32) & 0xff] ^ t.slice[2][(w >> 40) & 0xff] ^ t.slice[1][(w >> 48) & 0xff] ^ t.slice[0][w >> 56];
    p += 8;
    n -= 8;
  }
#endif
  while (n-- > 0) crc = (crc >> 8) ^ t.slice[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)

const ShiftTable& LongShift() {
  static const ShiftTable table(kLongBytes);
  return table;
}

const ShiftTable& ShortShift() {
  static const ShiftTable table(kShortBytes);
  return table;
}

// Three chains over blocks [p, p+len), [p+len, p+2len), [p+2len, p+3len), joined.
__attribute__((target("sse4.2"))) uint32_t ThreeChains(uint32_t crc, const uint8_t* p, size_t blockBytes, const ShiftTable& shift) {
  uint64_t a = crc, b = 0, c = 0;
  const uint8_t* end = p + blockBytes;
  for (; p < end; p += 8) {
    a = _mm_crc32_u64(a, Load64(p));
    b = _mm_crc32_u64(b, Load64(p + blockBytes));
    c = _mm_crc32_u64(c, Load64(p + 2 * blockBytes));
  }
  return shift.Apply(shift.Apply(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^ static_cast<uint32_t>(c);
}

__attribute__((target("sse4.2"))) uint32_t HardwareUpdate(uint32_t crc, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
  const ShiftTable& longShift = LongShift();
  while (n >= 3 * kLongBytes) {
    crc = ThreeChains(crc, p, kLongBytes, longShift);
    p += 3 * kLongBytes;
    n -= 3 * kLongBytes;
  }
  const ShiftTable& shortShift = ShortShift();
  while (n >= 3 * kShortBytes) {
    crc = ThreeChains(crc, p, kShortBytes, shortShift);
    p += 3 * kShortBytes;
    n -= 3 * kShortBytes;
  }
  uint64_t wide = crc;
  for (; n >= 8; p += 8, n -= 8) wide = _mm_crc32_u64(wide, Load64(p));
  crc = static_cast<uint32_t>(wide);
  while (n-- > 0) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

bool HasHardwareCrc() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

// Three adjacent blocks' own CRCs at once: three independent chains, nothing to join.
__attribute__((target("sse4.2"))) void ThreeBlocks(const uint8_t* p, uint32_t* out) {
  uint64_t a = 0, b = 0, c = 0;
  for (size_t i = 0; i < kCrcBlockBytes; i += 8) {
    a = _mm_crc32_u64(a, Load64(p + i));
    b = _mm_crc32_u64(b, Load64(p + kCrcBlockBytes + i));
    c = _mm_crc32_u64(c, Load64(p + 2 * kCrcBlockBytes + i));
  }
  out[0] = static_cast<uint32_t>(a);
  out[1] = static_cast<uint32_t>(b);
  out[2] = static_cast<uint32_t>(c);
}

#else

bool HasHardwareCrc() { return false; }
uint32_t HardwareUpdate(uint32_t crc, const uint8_t* p, size_t n) { return SoftwareUpdate(crc, p, n); }
void ThreeBlocks(const uint8_t* p, uint32_t* out) {
  for (int k = 0; k < 3; k++) out[k] = SoftwareUpdate(0, p + k * kCrcBlockBytes, kCrcBlockBytes);
}

#endif

uint32_t RawUpdate(uint32_t reg, const uint8_t* p, size_t n) { return HasHardwareCrc() ? HardwareUpdate(reg, p, n) : SoftwareUpdate(reg, p, n); }

// Appending one block of zeros to a register: the step that joins a block's own CRC to what came before it.
const ShiftTable& BlockShift() {
  static const ShiftTable table(kCrcBlockBytes);
  return table;
}

bool IsUint8Array(const Napi::Value& value) { return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array; }

}  // namespace

void Crc32cBlocks(const uint8_t* data, size_t firstBlockOffset, uint32_t* out, size_t count) {
  const uint8_t* block = data + firstBlockOffset;
  size_t k = 0;
  if (HasHardwareCrc()) {
    for (; k + 3 <= count; k += 3, block += 3 * kCrcBlockBytes) ThreeBlocks(block, out + k);
  }
  for (; k < count; k++, block += kCrcBlockBytes) out[k] = RawUpdate(0, block, kCrcBlockBytes);
}

// Linearity: the register after bytes A then block B is (register after A,
// shifted over B's length) xor (B's own register from zero).
uint32_t Crc32cWithBlocks(const uint8_t* data, size_t length, size_t head, const uint32_t* crcs, const uint8_t* valid, size_t count) {
  uint32_t reg = RawUpdate(~0u, data, head);
  const ShiftTable& shift = BlockShift();
  const uint8_t* block = data + head;
  for (size_t k = 0; k < count; k++, block += kCrcBlockBytes) {
    reg = valid[k] ? shift.Apply(reg) ^ crcs[k] : RawUpdate(reg, block, kCrcBlockBytes);
  }
  size_t done = head + count * kCrcBlockBytes;
  return ~RawUpdate(reg, block, length - done);
}

bool Crc32cHasHardware() { return HasHardwareCrc(); }

uint32_t Crc32c(uint32_t initial, const uint8_t* data, size_t length) {
  uint32_t crc = ~initial;
  crc = HasHardwareCrc() ? HardwareUpdate(crc, data, length) : SoftwareUpdate(crc, data, length);
  return ~crc;
}

Napi::Value Crc32cBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !IsUint8Array(info[0])) {
    Throw(env, "ERR_INVALID_ARG", "crc32c: first argument must be a Uint8Array");
  }
  uint32_t initial = 0;
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) Throw(env, "ERR_INVALID_ARG", "crc32c: initial CRC must be a number");
    double value = info[1].As<Napi::Number>().DoubleValue();
    if (!(value >= 0 && value <= 4294967295.0) || value != static_cast<double>(static_cast<uint32_t>(value))) {
      Throw(env, "ERR_INVALID_ARG", "crc32c: initial CRC must be an integer 0..2^32-1, got " + std::to_string(value));
    }
    initial = static_cast<uint32_t>(value);
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  return Napi::Number::New(env, Crc32c(initial, bytes.Data(), bytes.ByteLength()));
}

Napi::Value Crc32cBlocksBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !IsUint8Array(info[0])) Throw(env, "ERR_INVALID_ARG", "crc32cBlocks(bytes: Uint8Array, firstBlockOffset: number)");
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  size_t first = ReadUint(info, 1, "crc32cBlocks: firstBlockOffset");
  if (first >= kCrcBlockBytes) Throw(env, "ERR_INVALID_ARG", "crc32cBlocks: firstBlockOffset must be below " + std::to_string(kCrcBlockBytes));
  size_t count = bytes.ByteLength() > first ? (bytes.ByteLength() - first) / kCrcBlockBytes : 0;
  Napi::Uint32Array out = Napi::Uint32Array::New(env, count);
  Crc32cBlocks(bytes.Data(), first, out.Data(), count);
  return out;
}

Napi::Value Crc32cWithBlocksBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !IsUint8Array(info[0]) || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !IsUint8Array(info[3])) {
    Throw(env, "ERR_INVALID_ARG", "crc32cWithBlocks(bytes: Uint8Array, head: number, crcs: Uint32Array, valid: Uint8Array)");
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  size_t head = ReadUint(info, 1, "crc32cWithBlocks: head");
  Napi::Uint32Array crcs = info[2].As<Napi::Uint32Array>();
  Napi::Uint8Array valid = info[3].As<Napi::Uint8Array>();
  size_t count = crcs.ElementLength();
  if (head >= kCrcBlockBytes) Throw(env, "ERR_INVALID_ARG", "crc32cWithBlocks: head must be below " + std::to_string(kCrcBlockBytes));
  if (valid.ElementLength() < count) Throw(env, "ERR_INVALID_ARG", "crc32cWithBlocks: valid has fewer entries than crcs");
  if (head + count * kCrcBlockBytes > bytes.ByteLength()) Throw(env, "ERR_INVALID_ARG", "crc32cWithBlocks: the blocks run past the bytes");
  return Napi::Number::New(env, Crc32cWithBlocks(bytes.Data(), bytes.ByteLength(), head, crcs.Data(), valid.Data(), count));
}

}  // namespace rdmq
