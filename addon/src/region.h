// Region: one file mapped with libpmem2. Not safe to use from several threads;
// every call is made on the JS thread.
#pragma once
#include <libpmem2.h>
#include <napi.h>
#include <atomic>
#include <string>
#include <vector>

namespace rdmq {

/**
 * True when [address, address + length) lies inside the mapping of a Region
 * of this process that is still open, and every page of it is in memory.
 * The transport copies through such a range with a plain memcpy, which
 * cannot fault there (a page that a full tmpfs cannot back would raise
 * SIGBUS, where the kernel's CMA copy returns EFAULT). Both the check and
 * every Region close run on the JS thread, so it holds until the copy is done.
 */
bool IsCopyableInOpenRegion(uint64_t address, uint64_t length);

class Region : public Napi::ObjectWrap<Region> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Region(const Napi::CallbackInfo& info);
  ~Region() override;

  // For the transport: the mapped range, checked by the caller.
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  bool closed() const { return base_ == nullptr; }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Persist(const Napi::CallbackInfo& info);
  Napi::Value Prefault(const Napi::CallbackInfo& info);
  Napi::Value PrefaultInBackground(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetGranularity(const Napi::CallbackInfo& info);
  Napi::Value GetMemoryOnly(const Napi::CallbackInfo& info);
  Napi::Value GetPath(const Napi::CallbackInfo& info);

  void CheckOpen(Napi::Env env) const;
  void CheckRange(Napi::Env env, double offset, double length) const;
  void Unmap();

  std::string path_;
  int fd_ = -1;
  pmem2_config* config_ = nullptr;
  pmem2_source* source_ = nullptr;
  pmem2_map* map_ = nullptr;
  pmem2_persist_fn persist_ = nullptr;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  pmem2_granularity granularity_ = PMEM2_GRANULARITY_PAGE;
  // The file lives in memory only (tmpfs, ramfs): nothing it holds survives a
  // power loss, so persist has nothing to make durable and skips msync.
  bool memoryOnly_ = false;
  std::atomic<int> inFlight_{0};
  // Buffers handed to JS point into the mapping, through the ArrayBuffer of
  // their 1 GiB window (strong references) or, crossing a window boundary,
  // their own (weak references). All are detached on close, so a stale Buffer
  // reads as empty instead of faulting.
  std::vector<Napi::Reference<Napi::ArrayBuffer>> windows_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> strays_;
};

}  // namespace rdmq
