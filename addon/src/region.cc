#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#endif
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "errors.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace rdmq {

namespace {

constexpr size_t kWindowBytes = size_t{1} << 30;

// Mappings of the open Regions of this process: [base, base + size).
std::vector<std::pair<uintptr_t, size_t>>& OpenMappings() {
  static std::vector<std::pair<uintptr_t, size_t>> mappings;
  return mappings;
}

std::string Pmem2Message(const char* what, int code) {
  const char* detail = pmem2_errormsg();
  return std::string(what) + " failed (pmem2 error " + std::to_string(code) + "): " +
         (detail && *detail ? detail : "unknown");
}

// The kernel's own first write to the page at `page`, without changing it:
// FUTEX_WAKE_OP adds zero to the word there atomically, from kernel mode,
// and wakes nobody. See PopulatePages for why a kernel-mode touch matters.
void TouchFromKernel(uintptr_t page) {
#ifdef __linux__
  static int nobody_waits = 0;
  syscall(SYS_futex, &nobody_waits, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 0, nullptr, reinterpret_cast<int*>(page),
          FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 0));
#else
  (void)page;
#endif
}

// Faults [start, start+length) in for writing without changing its contents:
// the kernel populates the range (MADV_POPULATE_WRITE, at GB/s, so it stays
// ahead of writers; older kernels lack it, and the touches below then fault
// the pages themselves), then every page is touched twice with an atomic add
// of zero, which leaves it unchanged even under concurrent writers: once from
// user space and once from the kernel. The touches are what a hypervisor that
// shadows page tables needs (this project's 2-vCPU PVM VM), where the first
// access to a populated page still traps, ~7 us a page, separately for user
// mode and for kernel mode (each has its own page table): without the user
// touch the commit's CRC check paid it on the produce path (a fresh MiB read
// at ~0.45 GB/s instead of ~17), without the kernel touch every CMA copy into
// or out of a fresh page did (process_vm_readv of 1 MiB into a fresh part of
// the region: ~0.5 GB/s instead of ~13). On bare metal each touch costs a
// cache miss, and the kernel's a system call, per page.
void PopulatePages(uint8_t* start, size_t length) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t from = reinterpret_cast<uintptr_t>(start) & ~(page - 1);
  uintptr_t to = reinterpret_cast<uintptr_t>(start + length);
  if (to <= from) return;
  madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE);
  for (uintptr_t p = from; p < to; p += page) {
    __atomic_fetch_add(reinterpret_cast<uint8_t*>(p), 0, __ATOMIC_RELAXED);
    TouchFromKernel(p);
  }
}

// The file at `fd` is on a filesystem that keeps it in memory only.
bool IsMemoryOnly(int fd) {
  constexpr long kTmpfsMagic = 0x01021994;
  constexpr long kRamfsMagic = 0x858458f6;
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return false;
  return static_cast<long>(fs.f_type) == kTmpfsMagic || static_cast<long>(fs.f_type) == kRamfsMagic;
}

// Every page of [address, address + length) is in memory (mincore).
bool PagesResident(uint64_t address, uint64_t length) {
  if (length == 0) return true;
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  constexpr uint64_t kPagesPerCall = 4096;
  static std::vector<unsigned char> resident(kPagesPerCall);
  uint64_t end = address + length;
  for (uint64_t at = address & ~(page - 1); at < end; at += kPagesPerCall * page) {
    uint64_t bytes = std::min(end - at, kPagesPerCall * page);
    if (mincore(reinterpret_cast<void*>(at), bytes, resident.data()) != 0) return false;
    for (uint64_t i = 0; i < (bytes + page - 1) / page; i++) {
      if ((resident[i] & 1) == 0) return false;
    }
  }
  return true;
}

}  // namespace

bool IsCopyableInOpenRegion(uint64_t address, uint64_t length) {
  for (const auto& [base, size] : OpenMappings()) {
    if (address >= base && length <= size && address - base <= size - length) return PagesResident(address, length);
  }
  return false;
}

Napi::Function Region::Init(Napi::Env env) {
  return DefineClass(env, "Region",
                     {
                         InstanceMethod("buffer", &Region::Buffer),
                         InstanceMethod("persist", &Region::Persist),
                         InstanceMethod("prefault", &Region::Prefault),
                         InstanceMethod("prefaultInBackground", &Region::PrefaultInBackground),
                         InstanceMethod("close", &Region::Close),
                         InstanceAccessor("size", &Region::GetSize, nullptr),
                         InstanceAccessor("storeGranularity", &Region::GetGranularity, nullptr),
                         InstanceAccessor("memoryOnly", &Region::GetMemoryOnly, nullptr),
                         InstanceAccessor("path", &Region::GetPath, nullptr),
                     });
}

// new Region(path: string, sizeBytes: number, create: boolean)
// create=true makes the file if needed and extends it to sizeBytes (sparse);
// create=false opens an existing file, which must be at least sizeBytes long
// (sizeBytes=0 maps the whole file).
Region::Region(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Region>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Throw(env, "ERR_INVALID_ARG", "Region(path: string, sizeBytes: number, create: boolean)");
  }
  path_ = info[0].As<Napi::String>().Utf8Value();
  double requested = info[1].As<Napi::Number>().DoubleValue();
  bool create = info[2].As<Napi::Boolean>().Value();
  if (requested < 0 || requested > 9007199254740991.0 || requested != static_cast<double>(static_cast<uint64_t>(requested))) {
    Throw(env, "ERR_INVALID_ARG", "region size must be a non-negative integer, got " + std::to_string(requested));
  }
  size_t wanted = static_cast<size_t>(requested);

  fd_ = open(path_.c_str(), create ? (O_RDWR | O_CREAT) : O_RDWR, 0644);
  if (fd_ < 0) {
    int e = errno;
    Throw(env, "ERR_REGION_OPEN", "cannot open region file " + path_ + " for read/write: " + strerror(e));
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    int e = errno;
    Unmap();
    Throw(env, "ERR_REGION_OPEN", "cannot stat region file " + path_ + ": " + strerror(e));
  }
  size_t fileSize = static_cast<size_t>(st.st_size);
  if (create && fileSize < wanted) {
    if (ftruncate(fd_, static_cast<off_t>(wanted)) != 0) {
      int e = errno;
      Unmap();
      Throw(env, "ERR_REGION_OPEN", "cannot extend region file " + path_ + " to " + std::to_string(wanted) + " bytes: " + strerror(e));
    }
    fileSize = wanted;
  }
  if (wanted == 0) wanted = fileSize;
  if (wanted == 0) {
    Unmap();
    Throw(env, "ERR_REGION_TOO_SMALL", "region file " + path_ + " is empty");
  }
  if (fileSize < wanted) {
    Unmap();
    Throw(env, "ERR_REGION_TOO_SMALL", "region file " + path_ + " is " + std::to_string(fileSize) +
                                           " bytes, smaller than the requested " + std::to_string(wanted));
  }

  int rc = pmem2_config_new(&config_);
  if (rc == 0) rc = pmem2_config_set_required_store_granularity(config_, PMEM2_GRANULARITY_PAGE);
  if (rc == 0) rc = pmem2_config_set_length(config_, wanted);
  if (rc != 0) {
    std::string msg = Pmem2Message("pmem2 config", rc);
    Unmap();
    Throw(env, "ERR_REGION_MAP", msg);
  }
  rc = pmem2_source_from_fd(&source_, fd_);
  if (rc != 0) {
    std::string msg = Pmem2Message("pmem2_source_from_fd", rc);
    Unmap();
    Throw(env, "ERR_REGION_MAP", msg + " (" + path_ + ")");
  }
  rc = pmem2_map_new(&map_, config_, source_);
  if (rc != 0) {
    std::string msg = Pmem2Message("pmem2_map_new", rc);
    Unmap();
    Throw(env, "ERR_REGION_MAP", msg + " (" + path_ + ")");
  }
  base_ = static_cast<uint8_t*>(pmem2_map_get_address(map_));
  size_ = pmem2_map_get_size(map_);
  granularity_ = pmem2_map_get_store_granularity(map_);
  persist_ = pmem2_get_persist_fn(map_);
  memoryOnly_ = IsMemoryOnly(fd_);
  OpenMappings().emplace_back(reinterpret_cast<uintptr_t>(base_), size_);
}

Region::~Region() { Unmap(); }

void Region::Unmap() {
  for (auto* views : {&windows_, &strays_}) {
    for (auto& ref : *views) {
      if (!ref.IsEmpty()) {
        Napi::ArrayBuffer ab = ref.Value();
        if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
      }
      ref.Reset();
    }
    views->clear();
  }
  auto& open = OpenMappings();
  open.erase(std::remove(open.begin(), open.end(), std::make_pair(reinterpret_cast<uintptr_t>(base_), size_)), open.end());
  if (map_ != nullptr) pmem2_map_delete(&map_);
  if (source_ != nullptr) pmem2_source_delete(&source_);
  if (config_ != nullptr) pmem2_config_delete(&config_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  base_ = nullptr;
  persist_ = nullptr;
}

void Region::CheckOpen(Napi::Env env) const {
  if (base_ == nullptr) Throw(env, "ERR_REGION_CLOSED", "region " + path_ + " is closed");
}

void Region::CheckRange(Napi::Env env, double offset, double length) const {
  if (offset < 0 || length < 0 || offset != static_cast<double>(static_cast<uint64_t>(offset)) ||
      length != static_cast<double>(static_cast<uint64_t>(length)) || offset + length > static_cast<double>(size_)) {
    Throw(env, "ERR_OUT_OF_RANGE", "range [" + std::to_string(static_cast<long long>(offset)) + ", +" +
                                       std::to_string(static_cast<long long>(length)) + ") is outside region of " +
                                       std::to_string(size_) + " bytes");
  }
}

static void ReadRange(const Napi::CallbackInfo& info, double* offset, double* length) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Throw(info.Env(), "ERR_INVALID_ARG", "expected (offset: number, length: number)");
  }
  *offset = info[0].As<Napi::Number>().DoubleValue();
  *length = info[1].As<Napi::Number>().DoubleValue();
}

// buffer(offset, length): a Buffer aliasing the mapping (no copy).
//
// Views share one ArrayBuffer per 1 GiB window of the mapping. V8 counts an
// external ArrayBuffer's length as external memory and starts a full GC when
// that grows, so a fresh ArrayBuffer per view made every new segment (64 MiB)
// and every checked batch look like new garbage; a window is counted once.
// Node caps an ArrayBuffer at 4 GiB, hence windows rather than one for all.
// A view that crosses a window boundary gets its own ArrayBuffer.
Napi::Value Region::Buffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  double offset, length;
  ReadRange(info, &offset, &length);
  CheckRange(env, offset, length);
  size_t start = static_cast<size_t>(offset);
  size_t len = static_cast<size_t>(length);
  size_t window = start / kWindowBytes;
  if (len > 0 && (start + len - 1) / kWindowBytes == window) {
    if (windows_.size() <= window) windows_.resize(window + 1);
    if (windows_[window].IsEmpty()) {
      size_t from = window * kWindowBytes;
      windows_[window] = Napi::Persistent(Napi::ArrayBuffer::New(env, base_ + from, std::min(kWindowBytes, size_ - from)));
    }
    return Napi::Uint8Array::New(env, len, windows_[window].Value(), start - window * kWindowBytes);
  }
  // Drop references to views JS has already collected, so a long-lived region
  // handing out many views does not grow without bound.
  if (strays_.size() >= 64) {
    std::vector<Napi::Reference<Napi::ArrayBuffer>> live;
    for (auto& ref : strays_) {
      if (!ref.IsEmpty() && !ref.Value().IsEmpty()) live.push_back(std::move(ref));
    }
    strays_.swap(live);
  }
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, base_ + start, len);
  strays_.push_back(Napi::Reference<Napi::ArrayBuffer>::New(ab, 0));
  return Napi::Uint8Array::New(env, len, ab, 0);
}

Napi::Value Region::Persist(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  double offset, length;
  ReadRange(info, &offset, &length);
  CheckRange(env, offset, length);
  // On tmpfs an msync per commit costs a system call and makes nothing durable.
  if (length > 0 && !memoryOnly_) persist_(base_ + static_cast<size_t>(offset), static_cast<size_t>(length));
  return env.Undefined();
}

// prefault(offset, length): fault the pages in for writing without changing
// their contents, so the hot path does not pay first-touch faults.
Napi::Value Region::Prefault(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  double offset, length;
  ReadRange(info, &offset, &length);
  CheckRange(env, offset, length);
  PopulatePages(base_ + static_cast<size_t>(offset), static_cast<size_t>(length));
  return env.Undefined();
}

namespace {

// Faults pages in on a libuv pool thread. The region outlives the work: Close
// waits for it (see inFlight_).
struct PrefaultWork {
  uv_work_t work;
  uint8_t* start;
  size_t length;
  Napi::ObjectReference region;
  std::atomic<int>* inFlight;
};

}  // namespace

// prefaultInBackground(offset, length): like prefault, on a pool thread, so a
// segment allocated on the hot path does not stall it for a whole segment's
// worth of page faults. Writers racing it only fault the same pages earlier.
Napi::Value Region::PrefaultInBackground(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  double offset, length;
  ReadRange(info, &offset, &length);
  CheckRange(env, offset, length);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* w = new PrefaultWork{};
  w->work.data = w;
  w->start = base_ + static_cast<size_t>(offset);
  w->length = static_cast<size_t>(length);
  w->region = Napi::Persistent(info.This().As<Napi::Object>());
  w->inFlight = &inFlight_;
  inFlight_++;
  uv_queue_work(
      loop, &w->work,
      [](uv_work_t* work) {
        auto* pw = static_cast<PrefaultWork*>(work->data);
        PopulatePages(pw->start, pw->length);
        // Counted down here, on the pool thread: Close waits on the JS thread,
        // where the completion callback could never run while it waits.
        (*pw->inFlight)--;
      },
      [](uv_work_t* work, int) { delete static_cast<PrefaultWork*>(work->data); });
  return env.Undefined();
}

Napi::Value Region::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  // A background prefault still touching the mapping must finish first.
  while (inFlight_.load() > 0) usleep(1000);
  Unmap();
  return env.Undefined();
}

Napi::Value Region::GetSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(size_)); }

Napi::Value Region::GetMemoryOnly(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), memoryOnly_); }

Napi::Value Region::GetGranularity(const Napi::CallbackInfo& info) {
  const char* name = granularity_ == PMEM2_GRANULARITY_BYTE ? "byte"
                     : granularity_ == PMEM2_GRANULARITY_CACHE_LINE ? "cache-line"
                                                                    : "page";
  return Napi::String::New(info.Env(), name);
}

Napi::Value Region::GetPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

}  // namespace rdmq
