// Copies between this process and the process at the other end of a Unix
// socket it accepted (CMA: process_vm_readv / process_vm_writev), for the
// storage node's same-host data path. The peer is named by the kernel only:
// a PeerProcess is built from an accepted socket's descriptor (SO_PEERCRED,
// and a pidfd from SO_PEERPIDFD), never from a pid a client sent, so no
// request can make this process read or write a third process. Every copy
// checks with the pidfd that the pid is still the peer's (before writing into
// it; after reading from it, zeroing what it read when the peer is gone).
// Which bytes of this process may be read or written is policy, decided in
// TypeScript before the call (StorageNode.writableRange / readableRange).
//
// Also the client's side: its peer's pid (for prctl(PR_SET_PTRACER) on Yama)
// and the address of one of its own buffers.
#pragma once
#include <napi.h>

namespace rdmq {

struct CopyJob;

class PeerProcess : public Napi::ObjectWrap<PeerProcess> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit PeerProcess(const Napi::CallbackInfo& info);
  ~PeerProcess() override;

 private:
  Napi::Value Pid(const Napi::CallbackInfo& info);
  Napi::Value Uid(const Napi::CallbackInfo& info);
  // readInto(target: Uint8Array, remoteAddress: bigint): copies target.length bytes from the peer.
  Napi::Value ReadInto(const Napi::CallbackInfo& info);
  // writeFrom(source: Uint8Array, remoteAddress: bigint): copies source into the peer.
  Napi::Value WriteFrom(const Napi::CallbackInfo& info);
  // writeFromAsync(source, remoteAddress): the same copy on libuv's thread pool; a Promise.
  Napi::Value WriteFromAsync(const Napi::CallbackInfo& info);
  // readIntoAsync(target, remoteAddress, landed?: Int32Array, index?): readInto on the pool; a Promise. With `landed`,
  // landed[index] is 1 from the call until the last byte moved (or the copy failed), then 0, set on the pool thread.
  Napi::Value ReadIntoAsync(const Napi::CallbackInfo& info);
  Napi::Value CopyAsync(const Napi::CallbackInfo& info, bool intoPeer);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info, bool intoPeer);
  CopyJob Job(const Napi::CallbackInfo& info, bool intoPeer);

 public:
  void CopyDone();

 private:
  int pid_ = -1;
  int uid_ = -1;
  int pidfd_ = -1;
  int inFlight_ = 0;
  bool closing_ = false;
};

// peerProcessPid(fd): the pid SO_PEERCRED names for a connected Unix socket.
Napi::Value PeerProcessPid(const Napi::CallbackInfo& info);
// allowPtracer(pid): prctl(PR_SET_PTRACER, pid); throws with the errno's text.
Napi::Value AllowPtracer(const Napi::CallbackInfo& info);
// bufferAddress(bytes: Uint8Array): the address of its first byte, as a bigint.
Napi::Value BufferAddress(const Napi::CallbackInfo& info);

}  // namespace rdmq
