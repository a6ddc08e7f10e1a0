// rdmq_native: pmem2 regions, the UCX transport and CRC32C. Policy lives in
// TypeScript (addon/index.ts); this layer only checks its arguments and
// turns every failure into an Error with a `code`.
#include <napi.h>
#include <ucp/api/ucp.h>

#include "crc32c.h"
#include "file-lock.h"
#include "peer-copy.h"
#include "region.h"
#include "transport.h"

namespace rdmq {

Napi::Value UcxVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ucp_get_version_string()); }

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
  exports.Set("PeerProcess", PeerProcess::Init(env));
  exports.Set("peerProcessPid", Napi::Function::New(env, PeerProcessPid));
  exports.Set("allowPtracer", Napi::Function::New(env, AllowPtracer));
  exports.Set("bufferAddress", Napi::Function::New(env, BufferAddress));
  exports.Set("lockFileExclusive", Napi::Function::New(env, LockFileExclusive));
  exports.Set("crc32cHardware", Napi::Boolean::New(env, Crc32cHasHardware()));
  return exports;
}

}  // namespace rdmq

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rdmq::Init(env, exports); }

NODE_API_MODULE(rdmq_native, InitModule)
