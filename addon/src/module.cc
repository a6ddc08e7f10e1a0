// rdmq_native: pmem2 regions, the UCX transport and CRC32C. Policy lives in
// TypeScript (addon/index.ts); this layer only checks its arguments and
// turns every failure into an Error with a `code`.
#include <napi.h>
#include <ucp/api/ucp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "crc32c.h"
#include "file-lock.h"
#include "peer-copy.h"
#include "region.h"
#include "round-trips.h"
#include "transport.h"

namespace rdmq {

Napi::Value UcxVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ucp_get_version_string()); }

// keepFreedMemory(mmapThresholdBytes, trimThresholdBytes): glibc's malloc
// serves blocks below the first from its heap instead of a fresh mapping each,
// and keeps up to the second of freed memory instead of handing it back. A
// server that allocates and frees MiB-sized buffers per request (Kafka frames,
// reads) then reuses pages it has touched instead of faulting fresh ones in,
// which costs ~7 us a page on a shadow-paging VM. Returns whether both were set.
Napi::Value KeepFreedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "keepFreedMemory(mmapThresholdBytes, trimThresholdBytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#ifdef __GLIBC__
  int mmapThreshold = static_cast<int>(info[0].As<Napi::Number>().Int64Value());
  int trimThreshold = static_cast<int>(info[1].As<Napi::Number>().Int64Value());
  bool set = mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, trimThreshold) == 1;
  return Napi::Boolean::New(env, set);
#else
  return Napi::Boolean::New(env, false);
#endif
}

// releaseFreedMemory(): hands the free memory malloc kept (in every arena,
// from the middle of the heap too) back to the system. Called once a server
// has gone idle after work, so what keepFreedMemory kept while busy does not
// stay resident for good. Returns whether any was released.
Napi::Value ReleaseFreedMemory(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* ctors = new Constructors();
  Napi::Function transport = Transport::Init(env);
  Napi::Function endpoint = Endpoint::Init(env);
  Napi::Function registration = MemoryRegistration::Init(env);
  Napi::Function remoteKey = RemoteKey::Init(env);
  ctors->transport = Napi::Persistent(transport);
  ctors->endpoint = Napi::Persistent(endpoint);
  ctors->registration = Napi::Persistent(registration);
  ctors->remoteKey = Napi::Persistent(remoteKey);
  env.SetInstanceData<Constructors>(ctors);

  exports.Set("Region", Region::Init(env));
  exports.Set("Transport", transport);
  exports.Set("Endpoint", endpoint);
  exports.Set("MemoryRegistration", registration);
  exports.Set("RemoteKey", remoteKey);
  exports.Set("ucxVersion", Napi::Function::New(env, UcxVersion));
  exports.Set("protectProcess", Napi::Function::New(env, ProtectProcess));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cBinding));
  exports.Set("crc32cBlocks", Napi::Function::New(env, Crc32cBlocksBinding));
  exports.Set("crc32cWithBlocks", Napi::Function::New(env, Crc32cWithBlocksBinding));
  exports.Set("PeerProcess", PeerProcess::Init(env));
  exports.Set("peerProcessPid", Napi::Function::New(env, PeerProcessPid));
  exports.Set("allowPtracer", Napi::Function::New(env, AllowPtracer));
  exports.Set("bufferAddress", Napi::Function::New(env, BufferAddress));
  exports.Set("lockFileExclusive", Napi::Function::New(env, LockFileExclusive));
  exports.Set("crc32cHardware", Napi::Boolean::New(env, Crc32cHasHardware()));
  exports.Set("keepFreedMemory", Napi::Function::New(env, KeepFreedMemory));
  exports.Set("releaseFreedMemory", Napi::Function::New(env, ReleaseFreedMemory));
  exports.Set("measureRoundTrips", Napi::Function::New(env, MeasureRoundTrips));
  return exports;
}

}  // namespace rdmq

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rdmq::Init(env, exports); }

NODE_API_MODULE(rdmq_native, InitModule)
