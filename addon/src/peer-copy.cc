#include "peer-copy.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "crc32c.h"
#include "errors.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif

namespace rdmq {

namespace {

const char* CodeOf(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "ERR_COPY_DENIED";
    case ESRCH:
      return "ERR_PEER_GONE";
    case EFAULT:
      return "ERR_COPY_FAULT";
    default:
      return "ERR_COPY";
  }
}

int SocketArg(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 1 || !info[0].IsNumber()) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " needs a socket descriptor");
  return info[0].As<Napi::Number>().Int32Value();
}

ucred PeerCredentials(Napi::Env env, int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) Throw(env, "ERR_INVALID_ARG", std::string("SO_PEERCRED failed: ") + strerror(errno));
  if (cred.pid <= 0) Throw(env, "ERR_INVALID_ARG", "the socket's peer has no process (not a connected Unix socket)");
  return cred;
}

std::string Hex(uint64_t value) {
  char text[24];
  snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// 0 while the pidfd's process has not been reaped (its pid still names it).
int PeerGone(int pidfd) {
  if (syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) return 0;
  return errno == EPERM ? 0 : ESRCH;  // EPERM: it exists, we may not signal it
}

// Copies `length` bytes between `local` here and `remote` in `pid`; 0 or an errno.
int CopyWithPeer(int pid, bool intoPeer, uint8_t* local, uint64_t remote, size_t length) {
  size_t done = 0;
  while (done < length) {
    iovec l{local + done, length - done};
    iovec r{reinterpret_cast<void*>(remote + done), length - done};
    ssize_t n = intoPeer ? process_vm_writev(pid, &l, 1, &r, 1, 0) : process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EFAULT;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Napi::Function PeerProcess::Init(Napi::Env env) {
  return DefineClass(env, "PeerProcess",
                     {
                         InstanceAccessor<&PeerProcess::Pid>("pid"),
                         InstanceAccessor<&PeerProcess::Uid>("uid"),
                         InstanceMethod<&PeerProcess::ReadInto>("readInto"),
                         InstanceMethod<&PeerProcess::WriteFrom>("writeFrom"),
                         InstanceMethod<&PeerProcess::WriteFromAsync>("writeFromAsync"),
                         InstanceMethod<&PeerProcess::ReadIntoAsync>("readIntoAsync"),
                         InstanceMethod<&PeerProcess::Close>("close"),
                     });
}

// new PeerProcess(fd): the process that connected the accepted Unix socket `fd`.
PeerProcess::PeerProcess(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PeerProcess>(info) {
  Napi::Env env = info.Env();
  int fd = SocketArg(info, "PeerProcess");
  ucred cred = PeerCredentials(env, fd);
  // The pidfd the kernel took at connect time names exactly that process, even if it has exited since.
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    // Before Linux 6.5: open one now and make sure the peer still holds that pid afterwards.
    pidfd = static_cast<int>(syscall(SYS_pidfd_open, cred.pid, 0));
    if (pidfd < 0) Throw(env, CodeOf(errno), std::string("pidfd_open(") + std::to_string(cred.pid) + ") failed: " + strerror(errno));
    ucred again = PeerCredentials(env, fd);
    if (again.pid != cred.pid || PeerGone(pidfd) != 0) {
      close(pidfd);
      Throw(env, "ERR_PEER_GONE", "the socket's peer process exited before it could be named");
    }
  }
  pid_ = cred.pid;
  uid_ = static_cast<int>(cred.uid);
  pidfd_ = pidfd;
}

PeerProcess::~PeerProcess() {
  if (pidfd_ >= 0) close(pidfd_);
}

Napi::Value PeerProcess::Pid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pid_); }
Napi::Value PeerProcess::Uid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), uid_); }
Napi::Value PeerProcess::ReadInto(const Napi::CallbackInfo& info) { return Copy(info, false); }
Napi::Value PeerProcess::WriteFrom(const Napi::CallbackInfo& info) { return Copy(info, true); }

// The pidfd stays open while copies on the pool use it.
Napi::Value PeerProcess::Close(const Napi::CallbackInfo& info) {
  closing_ = true;
  if (inFlight_ == 0 && pidfd_ >= 0) {
    close(pidfd_);
    pidfd_ = -1;
  }
  return info.Env().Undefined();
}

// Where a copy goes and what it checks; shared by the JS thread and the pool.
struct CopyJob {
  int pid;
  int pidfd;
  bool intoPeer;
  uint8_t* local;
  uint64_t remote;
  size_t length;
};

namespace {

// One pidfd check per copy, on the side where it closes the gap: before
// writing into the peer (a pid reused by then would be written), after reading
// from it (a pid reused during the read means the bytes may be another
// process's: they are zeroed). 0 or an errno.
int RunCopy(const CopyJob& job) {
  if (job.intoPeer && PeerGone(job.pidfd) != 0) return ESRCH;
  int err = CopyWithPeer(job.pid, job.intoPeer, job.local, job.remote, job.length);
  if (!job.intoPeer && err == 0 && PeerGone(job.pidfd) != 0) {
    memset(job.local, 0, job.length);
    err = ESRCH;
  }
  return err;
}

std::string CopyFailure(const CopyJob& job, int err) {
  return std::string(job.intoPeer ? "copy into" : "copy from") + " process " + std::to_string(job.pid) + " at " + Hex(job.remote) + " (+" + std::to_string(job.length) +
         ") failed: " + strerror(err);
}

// A copy into the peer on libuv's thread pool, split into parts that run on
// several pool threads at once (as an RDMA NIC's engines would); the buffer
// and the handle stay referenced until the last part is done.
constexpr size_t kPartBytesMin = 1 << 20;
constexpr size_t kPartsMax = 4;

struct SplitCopy {
  PeerProcess* owner;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference self;
  Napi::Reference<Napi::Value> bytes;
  CopyJob whole;
  size_t pending;
  int err = 0;
  // Parts whose bytes may still move, counted on the pool; at zero `landed` (an int32 in shared memory) is set to 0,
  // so the JS thread can wait for the bytes without waiting for the completion callbacks.
  std::atomic<size_t> moving{0};
  int32_t* landed = nullptr;
  Napi::Reference<Napi::Value> landedArray;
  // Optional: the raw CRC32C of each whole block of kCrcBlockBytes copied in,
  // blocks starting `firstBlock` bytes into the local range, computed by the
  // thread that copied them while they are in its cache.
  uint32_t* blockCrcs = nullptr;
  size_t blockCount = 0;
  size_t firstBlock = 0;
  Napi::Reference<Napi::Value> blockCrcArray;

  // The blocks that lie wholly in [offset, offset + length) of the local range.
  void ComputeBlockCrcs(size_t offset, size_t length) const {
    if (blockCrcs == nullptr || offset + length < firstBlock + kCrcBlockBytes) return;
    size_t from = offset <= firstBlock ? 0 : (offset - firstBlock + kCrcBlockBytes - 1) / kCrcBlockBytes;
    size_t to = std::min(blockCount, (offset + length - firstBlock) / kCrcBlockBytes);
    if (from < to) Crc32cBlocks(whole.local, firstBlock + from * kCrcBlockBytes, blockCrcs + from, to - from);
  }
};

class CopyPart : public Napi::AsyncWorker {
 public:
  CopyPart(Napi::Env env, std::shared_ptr<SplitCopy> copy, CopyJob part, size_t offset)
      : Napi::AsyncWorker(env, "rdmq:peerCopy"), copy_(std::move(copy)), part_(part), offset_(offset) {}
  void Execute() override {
    err_ = RunCopy(part_);
    SplitCopy& c = *copy_;
    // Before the bytes count as landed: a fence that waits for them may free the memory next.
    if (err_ == 0) c.ComputeBlockCrcs(offset_, part_.length);
    if (c.landed && c.moving.fetch_sub(1, std::memory_order_acq_rel) == 1) __atomic_store_n(c.landed, 0, __ATOMIC_RELEASE);
  }
  void OnOK() override {
    SplitCopy& c = *copy_;
    if (err_ != 0 && c.err == 0) c.err = err_;
    if (--c.pending > 0) return;
    c.owner->CopyDone();
    if (c.err == 0) c.deferred.Resolve(Env().Undefined());
    else c.deferred.Reject(MakeError(Env(), CodeOf(c.err), CopyFailure(c.whole, c.err)).Value());
  }

 private:
  std::shared_ptr<SplitCopy> copy_;
  CopyJob part_;
  size_t offset_;
  int err_ = 0;
};

// The first offset at or after `at` where a block starts (or `length`).
size_t BlockBoundaryFrom(size_t at, size_t firstBlock, size_t length) {
  size_t boundary = at <= firstBlock ? firstBlock : firstBlock + (at - firstBlock + kCrcBlockBytes - 1) / kCrcBlockBytes * kCrcBlockBytes;
  return std::min(boundary, length);
}

}  // namespace

CopyJob PeerProcess::Job(const Napi::CallbackInfo& info, bool intoPeer) {
  Napi::Env env = info.Env();
  if (pidfd_ < 0 || closing_) Throw(env, "ERR_PEER_GONE", "this peer process handle is closed");
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsBigInt()) Throw(env, "ERR_INVALID_ARG", "copy(bytes: Uint8Array, remoteAddress: bigint)");
  Napi::TypedArray bytes = info[0].As<Napi::TypedArray>();
  bool lossless = false;
  uint64_t remote = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || remote == 0) Throw(env, "ERR_INVALID_ARG", "remote address must be a non-zero 64-bit value");
  size_t length = bytes.ByteLength();
  if (remote + length < remote) Throw(env, "ERR_INVALID_ARG", "remote range wraps around the address space");
  uint8_t* local = static_cast<uint8_t*>(bytes.ArrayBuffer().Data()) + bytes.ByteOffset();
  return CopyJob{pid_, pidfd_, intoPeer, local, remote, length};
}

Napi::Value PeerProcess::Copy(const Napi::CallbackInfo& info, bool intoPeer) {
  CopyJob job = Job(info, intoPeer);
  if (job.length == 0) return info.Env().Undefined();
  int err = RunCopy(job);
  if (err != 0) Throw(info.Env(), CodeOf(err), CopyFailure(job, err));
  return info.Env().Undefined();
}

Napi::Value PeerProcess::WriteFromAsync(const Napi::CallbackInfo& info) { return CopyAsync(info, true); }
Napi::Value PeerProcess::ReadIntoAsync(const Napi::CallbackInfo& info) { return CopyAsync(info, false); }

Napi::Value PeerProcess::CopyAsync(const Napi::CallbackInfo& info, bool intoPeer) {
  Napi::Env env = info.Env();
  CopyJob job = Job(info, intoPeer);
  int32_t* landed = nullptr;
  uint32_t* blockCrcs = nullptr;
  size_t blockCount = 0;
  size_t firstBlock = 0;
  if (info.Length() >= 6 && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      Throw(env, "ERR_INVALID_ARG", "copyAsync(bytes, remoteAddress, landed, index, blockCrcs?: Uint32Array, firstBlockOffset?: number)");
    }
    Napi::Uint32Array crcs = info[4].As<Napi::Uint32Array>();
    uint64_t first = ReadUint(info, 5, "firstBlockOffset");
    if (first >= kCrcBlockBytes) Throw(env, "ERR_INVALID_ARG", "firstBlockOffset must be 0.." + std::to_string(kCrcBlockBytes - 1));
    blockCount = crcs.ElementLength();
    firstBlock = static_cast<size_t>(first);
    if (blockCount > 0 && firstBlock + blockCount * kCrcBlockBytes > job.length) Throw(env, "ERR_INVALID_ARG", "blockCrcs has more blocks than the copy holds");
    blockCrcs = crcs.Data();
  }
  if (info.Length() >= 4 && !info[2].IsUndefined()) {
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[3].IsNumber()) {
      Throw(env, "ERR_INVALID_ARG", "copyAsync(bytes, remoteAddress, landed?: Int32Array, index?: number)");
    }
    Napi::Int32Array flags = info[2].As<Napi::Int32Array>();
    int64_t index = info[3].As<Napi::Number>().Int64Value();
    if (index < 0 || static_cast<size_t>(index) >= flags.ElementLength()) Throw(env, "ERR_INVALID_ARG", "landed index is outside its array");
    landed = flags.Data() + index;
  }
  size_t parts = std::max<size_t>(1, std::min(kPartsMax, job.length / kPartBytesMin));
  // In place: the atomic counter cannot be moved.
  auto copy = std::shared_ptr<SplitCopy>(new SplitCopy{this, Napi::Promise::Deferred::New(env), Napi::Persistent(info.This().As<Napi::Object>()),
                                                    Napi::Persistent(info[0]), job, parts});
  if (landed) {
    copy->landed = landed;
    copy->landedArray = Napi::Persistent(info[2]);
    __atomic_store_n(landed, 1, __ATOMIC_RELEASE);
  }
  if (blockCrcs) {
    copy->blockCrcs = blockCrcs;
    copy->blockCount = blockCount;
    copy->firstBlock = firstBlock;
    copy->blockCrcArray = Napi::Persistent(info[4]);
  }
  // Parts end where blocks start, so each block is copied, and its CRC taken, by one thread.
  size_t per = (job.length + parts - 1) / parts;
  size_t ends[kPartsMax];
  size_t count = 0;
  for (size_t i = 1; i <= parts; i++) {
    size_t end = i == parts ? job.length : BlockBoundaryFrom(per * i, firstBlock, job.length);
    if (end > (count == 0 ? 0 : ends[count - 1])) ends[count++] = end;
  }
  if (count == 0) ends[count++] = job.length;  // an empty copy: one part that moves nothing
  copy->pending = count;
  if (landed) copy->moving.store(count, std::memory_order_relaxed);
  inFlight_++;
  size_t start = 0;
  for (size_t i = 0; i < count; i++) {
    CopyJob part = job;
    part.local += start;
    part.remote += start;
    part.length = ends[i] - start;
    (new CopyPart(env, copy, part, start))->Queue();
    start = ends[i];
  }
  return copy->deferred.Promise();
}

void PeerProcess::CopyDone() {
  if (--inFlight_ == 0 && closing_ && pidfd_ >= 0) {
    close(pidfd_);
    pidfd_ = -1;
  }
}

Napi::Value PeerProcessPid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), PeerCredentials(info.Env(), SocketArg(info, "peerProcessPid")).pid);
}

Napi::Value AllowPtracer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) Throw(env, "ERR_INVALID_ARG", "allowPtracer(pid) needs a pid");
  int pid = info[0].As<Napi::Number>().Int32Value();
  if (pid <= 0) Throw(env, "ERR_INVALID_ARG", "allowPtracer: pid must be positive");
  if (prctl(PR_SET_PTRACER, static_cast<unsigned long>(pid), 0, 0, 0) != 0) Throw(env, CodeOf(errno), std::string("prctl(PR_SET_PTRACER) failed: ") + strerror(errno));
  return env.Undefined();
}

Napi::Value BufferAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) Throw(env, "ERR_INVALID_ARG", "bufferAddress(bytes: Uint8Array)");
  Napi::TypedArray bytes = info[0].As<Napi::TypedArray>();
  // ArrayBuffer() moves a small on-heap typed array's bytes off the heap, where the GC never moves them.
  auto base = reinterpret_cast<uintptr_t>(bytes.ArrayBuffer().Data());
  return Napi::BigInt::New(env, static_cast<uint64_t>(base + bytes.ByteOffset()));
}

}  // namespace rdmq
