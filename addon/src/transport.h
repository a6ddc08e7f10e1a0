// UCX transport: one context and one worker per Transport (one per process in
// practice). Everything runs on the JS thread: UCX callbacks only record what
// happened, and the recorded events are handed to JS after ucp_worker_progress
// returns, so JS never runs inside UCX and UCX is never re-entered.
#pragma once
#include <napi.h>
#include <ucp/api/ucp.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rdmq {

class Transport;
class Endpoint;
class RemoteKey;
class MemoryRegistration;

struct Op;

struct EpState {
  Transport* transport = nullptr;
  ucp_ep_h ep = nullptr;
  bool closed = false;
  std::string failure;  // set when UCX reported the peer gone
  Napi::ObjectReference js;
  std::unordered_set<RemoteKey*> rkeys;
  std::unordered_set<Op*> ops;
};

// One in-flight operation and what it keeps alive until UCX is done with it.
struct Op {
  Transport* transport;
  Napi::Promise::Deferred deferred;
  std::vector<Napi::Reference<Napi::Value>> keepAlive;
  std::string what;
  bool ignoreErrors = false;
  // The endpoint whose UCX request this is, while it is in flight.
  EpState* ep = nullptr;
  // The UCX request while it is in flight.
  void* request = nullptr;
  Op(Transport* t, Napi::Env env, std::string w) : transport(t), deferred(Napi::Promise::Deferred::New(env)), what(std::move(w)) {}
};

// Constructors of the wrapped classes, kept per environment so natives can
// create and recognise each other's objects.
struct Constructors {
  Napi::FunctionReference transport;
  Napi::FunctionReference endpoint;
  Napi::FunctionReference registration;
  Napi::FunctionReference remoteKey;
  static Constructors& Of(Napi::Env env) { return *env.GetInstanceData<Constructors>(); }
};

struct AmHandlerSlot {
  Transport* transport;
  uint16_t id;
};

// Something a UCX callback observed, delivered to JS after progress returns.
struct Event {
  enum Kind { kOpDone, kAmReceived, kEndpointError } kind;
  Op* op = nullptr;
  ucs_status_t status = UCS_OK;
  EpState* ep = nullptr;
  uint16_t amId = 0;
  std::vector<uint8_t> header;
  std::vector<uint8_t> payload;
};

struct AmRndvRecv {
  Transport* transport;
  Event event;
};

// Makes this process one that holds a storage node's memory: no other
// process of the same user may ptrace it or reach it with CMA
// (PR_SET_DUMPABLE 0), and every UCX context created afterwards leaves out
// the transports that do not enforce memory keys (tcp writes a put to any
// address its peer names; cma is ptrace access to the whole process).
// Returns the transports left out.
Napi::Value ProtectProcess(const Napi::CallbackInfo& info);

class Transport : public Napi::ObjectWrap<Transport> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Transport(const Napi::CallbackInfo& info);
  ~Transport() override;

  ucp_context_h context() const { return context_; }
  ucp_worker_h worker() const { return worker_; }
  Napi::Env env() const { return env_; }
  bool closed() const { return worker_ == nullptr; }

  void Push(Event&& e) { events_.push_back(std::move(e)); }
  void Drain();
  // Something was sent or received: the poll window starts again.
  void NoteActivity();
  // A message from a peer arrived (over UCX, or a socket the process reports
  // through noteActivity): scores whether polling would have seen it (see
  // pollScore_), then counts as activity.
  void NoteArrival();
  void UpdateTimer();
  void OpStarted() { ++outstanding_; }
  void Bury(std::vector<Napi::Reference<Napi::Value>>&& refs) {
    for (auto& r : refs) buried_.push_back(std::move(r));
  }
  void OpOrphaned() {
    if (outstanding_ > 0) --outstanding_;
  }
  // Settles an Op that finished without a callback (or failed to start).
  void Settle(Op* op, ucs_status_t status);
  void Bind(EpState* st);
  void ForgetEndpoint(EpState* st);
  size_t maxAmPayloadBytes() const { return maxAmPayloadBytes_; }
  ucp_err_handling_mode_t errMode() const { return errMode_; }
  void CheckOpen(Napi::Env env) const;
  Napi::AsyncContext& asyncContext() { return *asyncContext_; }

  static void EpErrorCallback(void* arg, ucp_ep_h ep, ucs_status_t status);

 private:
  Napi::Value RegisterMemory(const Napi::CallbackInfo& info);
  Napi::Value SetHandlers(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value WorkerAddress(const Napi::CallbackInfo& info);
  Napi::Value ConnectAddress(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value MemoryDomains(const Napi::CallbackInfo& info);
  Napi::Value NoteActivityFromJs(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnIdle(uv_idle_t* handle);
  static ucs_status_t OnAm(void* arg, const void* header, size_t headerLength, void* data, size_t length,
                           const ucp_am_recv_param_t* param);
  static void OnCleanup(void* arg);

  void DispatchEvents();
  void CallHandler(Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  bool WithinPollWindow() const;
  static uint64_t NowNs();
  void Shutdown();

  Napi::Env env_;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  uv_idle_t* idle_ = nullptr;
  bool idleRunning_ = false;
  // Buffers of requests given back to UCX for a lost peer, kept until the worker is destroyed.
  std::vector<Napi::Reference<Napi::Value>> buried_;
  // The last Drain stopped at its bound with work left.
  bool busy_ = false;
  // How long after the last activity the worker is polled on every turn of
  // the event loop instead of sleeping on its event fd (0: never), and when
  // that activity was; polling_: the idle handle runs for the window.
  uint64_t pollWindowNs_ = 0;
  uint64_t lastActivityNs_ = 0;
  bool polling_ = false;
  // Whether polling pays: each arrival within the window after the last
  // activity adds one (polling saw it, or would have, without a wake-up),
  // each later one takes one off; the worker is polled only while the score
  // is positive, so traffic that comes too seldom for the window to catch it
  // (a heartbeat, a slow producer) costs no busy time.
  int pollScore_ = 0;
  ucp_err_handling_mode_t errMode_ = UCP_ERR_HANDLING_MODE_NONE;
  bool inProgress_ = false;
  bool again_ = false;
  size_t outstanding_ = 0;
  size_t maxAmPayloadBytes_ = 16 << 20;
  std::deque<Event> events_;
  std::unordered_map<ucp_ep_h, EpState*> endpoints_;
  std::vector<std::unique_ptr<AmHandlerSlot>> amSlots_;
  Napi::FunctionReference onAm_;
  Napi::FunctionReference onEndpointError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  bool cleanupHookAdded_ = false;
  std::unordered_set<MemoryRegistration*> registrations_;

  friend class MemoryRegistration;
};

class Endpoint : public Napi::ObjectWrap<Endpoint> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Endpoint(const Napi::CallbackInfo& info);
  ~Endpoint() override;
  EpState* state() const { return state_; }

 private:
  Napi::Value Put(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value SendAm(const Napi::CallbackInfo& info);
  Napi::Value ImportKey(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Rma(const Napi::CallbackInfo& info, bool isPut);
  void CheckUsable(Napi::Env env) const;

  EpState* state_ = nullptr;
};

class MemoryRegistration : public Napi::ObjectWrap<MemoryRegistration> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit MemoryRegistration(const Napi::CallbackInfo& info);
  ~MemoryRegistration() override;
  void Release();

 private:
  Napi::Value PackedKey(const Napi::CallbackInfo& info);
  Napi::Value Deregister(const Napi::CallbackInfo& info);

  Transport* transport_ = nullptr;
  Napi::ObjectReference transportRef_;
  Napi::ObjectReference regionRef_;
  ucp_mem_h memh_ = nullptr;
  uint64_t address_ = 0;
  uint64_t length_ = 0;
  bool writable_ = false;
};

class RemoteKey : public Napi::ObjectWrap<RemoteKey> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RemoteKey(const Napi::CallbackInfo& info);
  ~RemoteKey() override;
  void Release();
  ucp_rkey_h rkey() const { return rkey_; }
  uint64_t address() const { return address_; }
  uint64_t length() const { return length_; }
  EpState* endpoint() const { return ep_; }
  bool writable() const { return writable_; }

 private:
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetLength(const Napi::CallbackInfo& info);

  EpState* ep_ = nullptr;
  ucp_rkey_h rkey_ = nullptr;
  uint64_t address_ = 0;
  uint64_t length_ = 0;
  bool writable_ = false;
};

}  // namespace rdmq
