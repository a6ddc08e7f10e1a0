#include "transport.h"

#include <string.h>

#include <cstring>
#include <algorithm>
#include <cerrno>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errors.h"
#include "region.h"

namespace rdmq {

namespace {

constexpr uint32_t kKeyMagic = 0x4b4d4452;  // "RDMK"
// Version 3 dropped the owner's pid and boot id: clients no longer copy into
// the owner's memory with CMA (see ProtectProcess), so they have no use for them.
constexpr uint32_t kKeyVersion = 3;
// magic, version, address, length, rkey length, access, pad[3]
constexpr size_t kKeyHeaderBytes = 4 + 4 + 8 + 8 + 4 + 4;
constexpr size_t kKeyAccessOffset = 28;

constexpr int kDrainRoundsMax = 64;
constexpr size_t kAmHeaderMaxBytes = 2048;
constexpr int kProgressCallsMax = 4096;
// Bound of the poll score (Transport::pollScore_): after a burst, this many
// arrivals past the window turn polling off.
constexpr int kPollScoreMax = 8;
constexpr uint16_t kMaxAmId = 255;

// Set once by ProtectProcess; read by every Transport created afterwards.
bool gStorageProcess = false;
// UCX transports that do not enforce memory keys: left out of every UCX
// context in a process that holds a storage node's memory.
constexpr const char* kTransportsWithoutKeyEnforcement = "^tcp,cma";

std::string StatusText(ucs_status_t status) { return ucs_status_string(status); }

const char* StatusCode(ucs_status_t status) {
  switch (status) {
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
      return "ERR_PEER_UNREACHABLE";
    case UCS_ERR_CANCELED:
      return "ERR_ENDPOINT_CLOSED";
    default:
      return "ERR_UCX";
  }
}

Napi::Error StatusError(Napi::Env env, const std::string& what, ucs_status_t status) {
  return MakeError(env, StatusCode(status), what + " failed: " + StatusText(status));
}

// What a UCX print_info function writes, as a JS string.
template <typename Print>
Napi::Value PrintedByUcx(Napi::Env env, Print print) {
  char* text = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&text, &size);
  if (stream == nullptr) Throw(env, "ERR_UCX", "open_memstream failed");
  print(stream);
  fclose(stream);
  std::string out(text, size);
  free(text);
  return Napi::String::New(env, out);
}

Napi::Uint8Array ReadBytes(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a Buffer or Uint8Array");
  }
  Napi::Uint8Array bytes = info[index].As<Napi::Uint8Array>();
  if (bytes.ArrayBuffer().IsDetached()) {
    Throw(info.Env(), "ERR_REGION_CLOSED", std::string(name) + " belongs to a region that is closed");
  }
  return bytes;
}

void OpCallback(void* request, ucs_status_t status, void* user) {
  Op* op = static_cast<Op*>(user);
  // Done as far as its endpoint is concerned, even before JS hears of it: a
  // close for a lost peer must not hand this (already released) request back.
  if (op->ep != nullptr) {
    op->ep->ops.erase(op);
    op->ep = nullptr;
  }
  op->request = nullptr;
  Event e;
  e.kind = Event::kOpDone;
  e.op = op;
  e.status = status;
  op->transport->Push(std::move(e));
  ucp_request_free(request);
}

void OpRecvAmCallback(void* request, ucs_status_t status, size_t length, void* user) {
  auto* rndv = static_cast<AmRndvRecv*>(user);
  rndv->event.status = status;
  rndv->transport->Push(std::move(rndv->event));
  delete rndv;
  ucp_request_free(request);
}

// Starts an operation: on immediate completion or failure it settles now,
// otherwise UCX calls OpCallback later.
// `ep` (if any) is the endpoint the request belongs to, so a lost peer can
// settle what is still in flight to it.
Napi::Value Track(Transport* t, Op* op, ucs_status_ptr_t result, EpState* ep = nullptr) {
  Napi::Promise promise = op->deferred.Promise();
  // An operation is activity: it extends a poll window already running (see
  // Drain); an armed worker wakes on the answer as before.
  t->NoteActivity();
  // Settled at once: nothing to progress. UpdateTimer keeps what every Track
  // used to end with (Drain did it), for state changed since the last Drain.
  if (result == nullptr) {
    t->Settle(op, UCS_OK);
    t->UpdateTimer();
  } else if (UCS_PTR_IS_ERR(result)) {
    t->Settle(op, UCS_PTR_STATUS(result));
    t->UpdateTimer();
  } else {
    t->OpStarted();
    op->request = result;
    if (ep != nullptr) {
      op->ep = ep;
      ep->ops.insert(op);
    }
    t->Drain();
  }
  return promise;
}

ucp_request_param_t OpParams(Op* op) {
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.send = OpCallback;
  param.user_data = op;
  return param;
}

}  // namespace

// ---------------------------------------------------------------- Transport

Napi::Function Transport::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Transport",
                                    {
                                        InstanceMethod("registerMemory", &Transport::RegisterMemory),
                                        InstanceMethod("setHandlers", &Transport::SetHandlers),
                                        InstanceMethod("progress", &Transport::Progress),
                                        InstanceMethod("stats", &Transport::Stats),
                                        InstanceMethod("memoryDomains", &Transport::MemoryDomains),
                                        InstanceMethod("noteActivity", &Transport::NoteActivityFromJs),
                                        InstanceMethod("close", &Transport::Close),
                                        InstanceMethod("workerAddress", &Transport::WorkerAddress),
                                        InstanceMethod("connectAddress", &Transport::ConnectAddress),
                                    });
  return ctor;
}

// new Transport(endpointConstructor, { maxAmPayloadBytes })
Transport::Transport(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Transport>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() >= 1 && info[0].IsObject()) {
    Napi::Object opts = info[0].As<Napi::Object>();
    Napi::Value max = opts.Get("maxAmPayloadBytes");
    if (max.IsNumber()) maxAmPayloadBytes_ = static_cast<size_t>(max.As<Napi::Number>().Int64Value());
    Napi::Value peerErrors = opts.Get("peerErrorHandling");
    if (peerErrors.IsBoolean()) errMode_ = peerErrors.As<Napi::Boolean>().Value() ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
    Napi::Value pollUs = opts.Get("pollWindowUs");
    if (pollUs.IsNumber() && pollUs.As<Napi::Number>().DoubleValue() > 0) {
      pollWindowNs_ = static_cast<uint64_t>(pollUs.As<Napi::Number>().DoubleValue() * 1000.0);
    }
  }

  ucp_config_t* config = nullptr;
  ucs_status_t status = ucp_config_read(nullptr, nullptr, &config);
  if (status != UCS_OK) throw StatusError(env, "ucp_config_read", status);
  if (gStorageProcess) {
    status = ucp_config_modify(config, "TLS", kTransportsWithoutKeyEnforcement);
    if (status != UCS_OK) {
      ucp_config_release(config);
      throw StatusError(env, "ucp_config_modify(TLS)", status);
    }
  }
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  status = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (status != UCS_OK) throw StatusError(env, "ucp_init", status);

  ucp_worker_params_t wparams{};
  wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
  status = ucp_worker_create(context_, &wparams, &worker_);
  if (status != UCS_OK) {
    ucp_cleanup(context_);
    context_ = nullptr;
    throw StatusError(env, "ucp_worker_create", status);
  }
  int efd = -1;
  status = ucp_worker_get_efd(worker_, &efd);
  if (status != UCS_OK) {
    Shutdown();
    throw StatusError(env, "ucp_worker_get_efd", status);
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, efd);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &Transport::OnPoll);
  // An idle worker must not keep the process alive (the connections that own
  // endpoints do); in-flight operations do (see UpdateTimer).
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  idle_ = new uv_idle_t;
  uv_idle_init(loop, idle_);
  idle_->data = this;

  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "rdmq:ucx");
  napi_add_env_cleanup_hook(env, &Transport::OnCleanup, this);
  cleanupHookAdded_ = true;

  for (uint16_t id = 0; id <= kMaxAmId; ++id) {
    auto slot = std::make_unique<AmHandlerSlot>(AmHandlerSlot{this, id});
    ucp_am_handler_param_t hp{};
    hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    hp.id = id;
    hp.cb = &Transport::OnAm;
    hp.arg = slot.get();
    status = ucp_worker_set_am_recv_handler(worker_, &hp);
    if (status != UCS_OK) {
      Shutdown();
      throw StatusError(env, "ucp_worker_set_am_recv_handler", status);
    }
    amSlots_.push_back(std::move(slot));
  }
  Drain();
}

Transport::~Transport() { Shutdown(); }

void Transport::OnCleanup(void* arg) {
  auto* self = static_cast<Transport*>(arg);
  self->cleanupHookAdded_ = false;
  self->Shutdown();
}

void Transport::CheckOpen(Napi::Env env) const {
  if (worker_ == nullptr) Throw(env, "ERR_TRANSPORT_CLOSED", "transport is closed");
}

void Transport::Shutdown() {
  if (worker_ == nullptr && context_ == nullptr) return;
  for (MemoryRegistration* reg : std::vector<MemoryRegistration*>(registrations_.begin(), registrations_.end())) {
    reg->Release();
  }
  registrations_.clear();
  for (auto& [ep, st] : endpoints_) {
    for (RemoteKey* rk : std::vector<RemoteKey*>(st->rkeys.begin(), st->rkeys.end())) rk->Release();
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    ucs_status_ptr_t req = ucp_ep_close_nbx(ep, &param);
    if (UCS_PTR_IS_PTR(req)) {
      while (ucp_request_check_status(req) == UCS_INPROGRESS) ucp_worker_progress(worker_);
      ucp_request_free(req);
    }
    st->closed = true;
    st->ep = nullptr;
    // An EpState with a JS Endpoint is freed by that object's finalizer.
    if (!st->js.IsEmpty()) {
      st->js.Reset();
    } else {
      delete st;
    }
  }
  endpoints_.clear();
  // Operations still in flight are dropped with the worker.
  events_.clear();
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (idle_ != nullptr) {
    uv_idle_stop(idle_);
    uv_close(reinterpret_cast<uv_handle_t*>(idle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
    idle_ = nullptr;
  }
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  worker_ = nullptr;
  buried_.clear();
  if (context_ != nullptr) ucp_cleanup(context_);
  context_ = nullptr;
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, &Transport::OnCleanup, this);
    cleanupHookAdded_ = false;
  }
  onAm_.Reset();
  onEndpointError_.Reset();
}

void Transport::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Transport*>(handle->data);
  Napi::HandleScope scope(self->env_);
  Napi::CallbackScope cbScope(self->env_, *self->asyncContext_);
  self->Drain();
}

void Transport::OnIdle(uv_idle_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
  uint64_t before = self->lastActivityNs_;
  OnPoll(reinterpret_cast<uv_poll_t*>(handle), 0, 0);
  // A look that found nothing while polling: a thread waiting for this CPU
  // runs first (another role's process, a pool thread's copy). Without it,
  // three polling processes on two CPUs (client, broker, storage node apart)
  // kept the one with work waiting for a scheduler tick: a publish took 0.6 ms
  // instead of 0.2.
  if (self->polling_ && self->lastActivityNs_ == before) sched_yield();
}

void Transport::Drain() {
  if (worker_ == nullptr) return;
  if (inProgress_) {
    again_ = true;
    return;
  }
  inProgress_ = true;
  // Bounded: a worker that keeps reporting work (a peer that vanished
  // mid-transfer can do that) must not hold the JS thread. What is left is
  // picked up on the next turn of the event loop (the idle handle).
  busy_ = true;
  for (int round = 0; round < kDrainRoundsMax; round++) {
    again_ = false;
    bool progressed = false;
    for (int i = 0; i < kProgressCallsMax && worker_ != nullptr && ucp_worker_progress(worker_) != 0; i++) progressed = true;
    if (progressed || !events_.empty()) NoteActivity();
    if (!events_.empty()) DispatchEvents();
    if (worker_ == nullptr) break;
    if (again_ || !events_.empty()) continue;
    if (WithinPollWindow()) {
      // Recent activity: poll on every turn of the event loop instead of
      // arming the event fd and sleeping, so the next message (usually the
      // answer to one just sent) is seen without a wake-up.
      polling_ = true;
      busy_ = false;
      break;
    }
    polling_ = false;
    if (ucp_worker_arm(worker_) == UCS_ERR_BUSY) continue;
    busy_ = false;
    break;
  }
  inProgress_ = false;
  UpdateTimer();
}

uint64_t Transport::NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void Transport::NoteActivity() {
  if (pollWindowNs_ > 0) lastActivityNs_ = NowNs();
}

void Transport::NoteArrival() {
  if (pollWindowNs_ == 0) return;
  uint64_t now = NowNs();
  bool caught = lastActivityNs_ != 0 && now - lastActivityNs_ <= pollWindowNs_;
  pollScore_ = caught ? std::min(pollScore_ + 1, kPollScoreMax) : std::max(pollScore_ - 1, 0);
  lastActivityNs_ = now;
}

bool Transport::WithinPollWindow() const { return pollWindowNs_ > 0 && pollScore_ > 0 && NowNs() - lastActivityNs_ < pollWindowNs_; }

// noteActivity(arrival: boolean): traffic on a door of this process that is
// not UCX (a storage node's data socket, the commit socket): a request or
// answer sent, or one arrived. It scores and extends the poll window like a
// message, and starts polling when the window is on, so the answer to what
// was just sent is seen without a wake-up.
Napi::Value Transport::NoteActivityFromJs(const Napi::CallbackInfo& info) {
  if (worker_ == nullptr || pollWindowNs_ == 0) return info.Env().Undefined();
  if (info.Length() >= 1 && info[0].ToBoolean().Value()) {
    NoteArrival();
  } else {
    NoteActivity();
  }
  if (!polling_ && !inProgress_ && WithinPollWindow()) {
    polling_ = true;
    UpdateTimer();
  }
  return info.Env().Undefined();
}

// While operations are in flight the worker is progressed on every turn of
// the event loop: some transports move data only when progressed (shared-
// memory copies are done in segments, one per progress call), and no event fd
// fires for that. The idle handle also keeps the process alive until the
// operations settle. With nothing in flight it is stopped and only the
// (unref'd) event-fd poll remains, costing no CPU. For the poll window after
// activity it runs too (polling_), and the loop does not sleep meanwhile.
void Transport::UpdateTimer() {
  if (idle_ == nullptr) return;
  bool wanted = outstanding_ > 0 || busy_ || polling_;
  if (wanted && !idleRunning_) {
    uv_idle_start(idle_, &Transport::OnIdle);
    idleRunning_ = true;
  } else if (!wanted && idleRunning_) {
    uv_idle_stop(idle_);
    idleRunning_ = false;
  }
}

void Transport::Settle(Op* op, ucs_status_t status) {
  Napi::Env env = env_;
  Napi::HandleScope scope(env);
  if (status == UCS_OK || op->ignoreErrors) {
    op->deferred.Resolve(env.Undefined());
  } else {
    op->deferred.Reject(StatusError(env, op->what, status).Value());
  }
  delete op;
}

void Transport::CallHandler(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (fn.IsEmpty()) return;
  fn.MakeCallback(Value(), args, *asyncContext_);
}

void Transport::DispatchEvents() {
  Napi::Env env = env_;
  while (!events_.empty()) {
    Event e = std::move(events_.front());
    events_.pop_front();
    Napi::HandleScope scope(env);
    switch (e.kind) {
      case Event::kOpDone:
        if (outstanding_ > 0) --outstanding_;
        Settle(e.op, e.status);
        break;
      case Event::kAmReceived: {
        if (e.status != UCS_OK) break;  // a rendezvous receive that failed: the sender sees the error
        Napi::Buffer<uint8_t> header = Napi::Buffer<uint8_t>::Copy(env, e.header.data(), e.header.size());
        Napi::Buffer<uint8_t> payload = Napi::Buffer<uint8_t>::Copy(env, e.payload.data(), e.payload.size());
        CallHandler(onAm_, {Napi::Number::New(env, e.amId), header, payload});
        break;
      }
      case Event::kEndpointError:
        if (e.ep != nullptr && !e.ep->js.IsEmpty()) {
          CallHandler(onEndpointError_, {e.ep->js.Value(), Napi::String::New(env, e.ep->failure)});
        }
        break;
    }
    if (worker_ == nullptr) break;
  }
}

// Gives an endpoint state its JS object; the transport holds it strongly
// until the endpoint is closed.
void Transport::Bind(EpState* st) {
  Napi::Object obj = Constructors::Of(env_).endpoint.New({Napi::External<EpState>::New(env_, st)});
  st->js = Napi::Persistent(obj);
}

void Transport::ForgetEndpoint(EpState* st) {
  if (st->ep != nullptr) endpoints_.erase(st->ep);
  st->ep = nullptr;
  st->closed = true;
  if (!st->js.IsEmpty()) st->js.Reset();
}

void Transport::EpErrorCallback(void* arg, ucp_ep_h ep, ucs_status_t status) {
  auto* st = static_cast<EpState*>(arg);
  if (st->closed || !st->failure.empty()) return;
  st->failure = "peer connection lost: " + StatusText(status);
  Event e;
  e.kind = Event::kEndpointError;
  e.ep = st;
  e.status = status;
  st->transport->Push(std::move(e));
}

ucs_status_t Transport::OnAm(void* arg, const void* header, size_t headerLength, void* data, size_t length,
                             const ucp_am_recv_param_t* param) {
  auto* slot = static_cast<AmHandlerSlot*>(arg);
  Transport* self = slot->transport;
  self->NoteArrival();
  Event e;
  e.kind = Event::kAmReceived;
  e.amId = slot->id;
  const auto* h = static_cast<const uint8_t*>(header);
  e.header.assign(h, h + headerLength);
  if (length > self->maxAmPayloadBytes_) {
    // Too large to accept: drop it (the protocol above answers with an error
    // when it expects a reply).
    return UCS_OK;
  }
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    auto* rndv = new AmRndvRecv{self, std::move(e)};
    rndv->event.payload.resize(length);
    ucp_request_param_t rp{};
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.recv_am = OpRecvAmCallback;
    rp.user_data = rndv;
    ucs_status_ptr_t r = ucp_am_recv_data_nbx(self->worker_, data, rndv->event.payload.data(), length, &rp);
    if (r == nullptr) {
      self->Push(std::move(rndv->event));
      delete rndv;
    } else if (UCS_PTR_IS_ERR(r)) {
      delete rndv;
    }
    return UCS_OK;
  }
  const auto* d = static_cast<const uint8_t*>(data);
  e.payload.assign(d, d + length);
  self->Push(std::move(e));
  return UCS_OK;
}

// registerMemory(region, offset, length, remoteWrite: boolean) -> MemoryRegistration
Napi::Value Transport::RegisterMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  return Constructors::Of(env).registration.New({Value(), info[0], info[1], info[2], info[3]});
}

// setHandlers({ connection(ep), am(id, ep, header, payload), endpointError(ep, message) })
Napi::Value Transport::SetHandlers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) Throw(env, "ERR_INVALID_ARG", "setHandlers(handlers: object)");
  Napi::Object h = info[0].As<Napi::Object>();
  auto bind = [&](const char* name, Napi::FunctionReference& slot) {
    Napi::Value v = h.Get(name);
    if (v.IsFunction()) slot = Napi::Persistent(v.As<Napi::Function>());
  };
  bind("am", onAm_);
  bind("endpointError", onEndpointError_);
  return env.Undefined();
}

// stats() -> { outstandingOps, endpoints, registrations }: for tests and metrics.
Napi::Value Transport::Stats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("outstandingOps", Napi::Number::New(info.Env(), static_cast<double>(outstanding_)));
  out.Set("endpoints", Napi::Number::New(info.Env(), static_cast<double>(endpoints_.size())));
  out.Set("registrations", Napi::Number::New(info.Env(), static_cast<double>(registrations_.size())));
  out.Set("pollScore", Napi::Number::New(info.Env(), pollScore_));
  out.Set("polling", Napi::Boolean::New(info.Env(), polling_));
  return out;
}

// memoryDomains() -> string: UCX's description of this context (its memory
// domains and transports), so the storage node can tell whether its region is
// reached over RDMA (an ib memory domain) where the NIC enforces keys.
Napi::Value Transport::MemoryDomains(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  return PrintedByUcx(env, [this](FILE* stream) {
    ucp_context_print_info(context_, stream);
    ucp_worker_print_info(worker_, stream);
  });
}

Napi::Value ProtectProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) Throw(env, "ERR_PROTECT", std::string("prctl(PR_SET_DUMPABLE, 0) failed: ") + strerror(errno));
  gStorageProcess = true;
  return Napi::String::New(env, kTransportsWithoutKeyEnforcement + 1);
}

Napi::Value Transport::Progress(const Napi::CallbackInfo& info) {
  Drain();
  return info.Env().Undefined();
}

// workerAddress() -> Buffer: this worker's UCX address, for a peer's connectAddress.
Napi::Value Transport::WorkerAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  ucp_address_t* addr = nullptr;
  size_t len = 0;
  ucs_status_t status = ucp_worker_get_address(worker_, &addr, &len);
  if (status != UCS_OK) throw StatusError(env, "ucp_worker_get_address", status);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(addr), len);
  ucp_worker_release_address(worker_, addr);
  return out;
}

// connectAddress(address: Buffer) -> Endpoint, to a worker address obtained
// out of band.
Napi::Value Transport::ConnectAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Uint8Array address = ReadBytes(info, 0, "worker address");
  auto* st = new EpState();
  st->transport = this;
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  params.address = reinterpret_cast<const ucp_address_t*>(address.Data());
  params.err_mode = errMode_;
  params.err_handler.cb = &Transport::EpErrorCallback;
  params.err_handler.arg = st;
  ucp_ep_h ep = nullptr;
  ucs_status_t status = ucp_ep_create(worker_, &params, &ep);
  if (status != UCS_OK) {
    delete st;
    throw MakeError(env, "ERR_PEER_UNREACHABLE", std::string("cannot connect to worker address: ") + StatusText(status));
  }
  st->ep = ep;
  endpoints_[ep] = st;
  Bind(st);
  Napi::Object obj = st->js.Value();
  Drain();
  return obj;
}

Napi::Value Transport::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- Endpoint

Napi::Function Endpoint::Init(Napi::Env env) {
  return DefineClass(env, "Endpoint",
                     {
                         InstanceMethod("put", &Endpoint::Put),
                         InstanceMethod("get", &Endpoint::Get),
                         InstanceMethod("flush", &Endpoint::Flush),
                         InstanceMethod("sendAm", &Endpoint::SendAm),
                         InstanceMethod("importKey", &Endpoint::ImportKey),
                         InstanceMethod("close", &Endpoint::Close),
                         InstanceMethod("describe", &Endpoint::Describe),
                         InstanceAccessor("closed", &Endpoint::IsClosed, nullptr),
                     });
}

Endpoint::Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Throw(info.Env(), "ERR_INVALID_ARG", "endpoints are created by Transport.connectAddress");
  }
  state_ = info[0].As<Napi::External<EpState>>().Data();
}

void Endpoint::CheckUsable(Napi::Env env) const {
  if (state_->closed || state_->ep == nullptr) Throw(env, "ERR_ENDPOINT_CLOSED", "endpoint is closed");
  if (!state_->failure.empty()) Throw(env, "ERR_PEER_UNREACHABLE", state_->failure);
  state_->transport->CheckOpen(env);
}

// put(local: Uint8Array, rkey: RemoteKey, remoteOffset) / get(...)
Napi::Value Endpoint::Rma(const Napi::CallbackInfo& info, bool isPut) {
  Napi::Env env = info.Env();
  const char* name = isPut ? "put" : "get";
  CheckUsable(env);
  Napi::Uint8Array local = ReadBytes(info, 0, "local buffer");
  RemoteKey* rk = nullptr;
  if (info.Length() >= 2 && info[1].IsObject() &&
      info[1].As<Napi::Object>().InstanceOf(Constructors::Of(env).remoteKey.Value())) {
    rk = RemoteKey::Unwrap(info[1].As<Napi::Object>());
  }
  if (rk == nullptr) Throw(env, "ERR_INVALID_ARG", std::string(name) + ": second argument must be a RemoteKey");
  if (rk->rkey() == nullptr) Throw(env, "ERR_BAD_REMOTE_KEY", std::string(name) + ": remote key has been destroyed");
  if (rk->endpoint() != state_) Throw(env, "ERR_BAD_REMOTE_KEY", std::string(name) + ": remote key was imported on another endpoint");
  uint64_t remoteOffset = ReadUint(info, 2, "remoteOffset");
  uint64_t length = local.ByteLength();
  if (remoteOffset > rk->length() || length > rk->length() - remoteOffset) {
    Throw(env, "ERR_OUT_OF_RANGE", std::string(name) + " of " + std::to_string(length) + " bytes at remote offset " +
                                       std::to_string(remoteOffset) + " is outside the registered range of " +
                                       std::to_string(rk->length()) + " bytes");
  }
  if (isPut && !rk->writable()) {
    Throw(env, "ERR_ACCESS_DENIED", "put: remote key grants read-only access");
  }
  Transport* t = state_->transport;
  Op* op = new Op(t, env, name);
  op->keepAlive.push_back(Napi::Persistent(Napi::Value(local)));
  op->keepAlive.push_back(Napi::Persistent(info[1]));
  ucp_request_param_t param = OpParams(op);
  void* buf = local.Data();
  uint64_t raddr = rk->address() + remoteOffset;
  if (length == 0) {
    return Track(t, op, nullptr);
  }
  ucs_status_ptr_t r = isPut ? ucp_put_nbx(state_->ep, buf, length, raddr, rk->rkey(), &param)
                             : ucp_get_nbx(state_->ep, buf, length, raddr, rk->rkey(), &param);
  return Track(t, op, r, state_);
}

Napi::Value Endpoint::Put(const Napi::CallbackInfo& info) { return Rma(info, true); }
Napi::Value Endpoint::Get(const Napi::CallbackInfo& info) { return Rma(info, false); }

Napi::Value Endpoint::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  Transport* t = state_->transport;
  Op* op = new Op(t, env, "flush");
  op->keepAlive.push_back(Napi::Persistent(info.This()));
  ucp_request_param_t param = OpParams(op);
  return Track(t, op, ucp_ep_flush_nbx(state_->ep, &param), state_);
}

// sendAm(id, header, payload) -> Promise
Napi::Value Endpoint::SendAm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  uint64_t id = ReadUint(info, 0, "message id");
  if (id > kMaxAmId) Throw(env, "ERR_INVALID_ARG", "message id must be 0.." + std::to_string(kMaxAmId));
  Napi::Uint8Array header = ReadBytes(info, 1, "header");
  Napi::Uint8Array payload = ReadBytes(info, 2, "payload");
  Transport* t = state_->transport;
  if (payload.ByteLength() > t->maxAmPayloadBytes()) {
    Throw(env, "ERR_MESSAGE_TOO_LARGE", "active message payload of " + std::to_string(payload.ByteLength()) +
                                            " bytes exceeds the limit of " + std::to_string(t->maxAmPayloadBytes()));
  }
  if (header.ByteLength() > kAmHeaderMaxBytes) {
    // UCX aborts the process when a rendezvous header does not fit in one fragment.
    Throw(env, "ERR_MESSAGE_TOO_LARGE", "active message header of " + std::to_string(header.ByteLength()) +
                                            " bytes exceeds the limit of " + std::to_string(kAmHeaderMaxBytes));
  }
  Op* op = new Op(t, env, "sendAm");
  op->keepAlive.push_back(Napi::Persistent(Napi::Value(header)));
  op->keepAlive.push_back(Napi::Persistent(Napi::Value(payload)));
  ucp_request_param_t param = OpParams(op);
  ucs_status_ptr_t r = ucp_am_send_nbx(state_->ep, static_cast<unsigned>(id), header.Data(), header.ByteLength(),
                                       payload.Data(), payload.ByteLength(), &param);
  return Track(t, op, r, state_);
}

// importKey(packed: Buffer) -> RemoteKey
Napi::Value Endpoint::ImportKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  Napi::Uint8Array packed = ReadBytes(info, 0, "packed key");
  return Constructors::Of(env).remoteKey.New({info.This(), packed});
}

Napi::Value Endpoint::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->closed || state_->ep == nullptr) Throw(env, "ERR_ENDPOINT_CLOSED", "endpoint is already closed");
  Transport* t = state_->transport;
  t->CheckOpen(env);
  for (RemoteKey* rk : std::vector<RemoteKey*>(state_->rkeys.begin(), state_->rkeys.end())) rk->Release();
  ucp_ep_h ep = state_->ep;
  bool lost = !state_->failure.empty() || (info.Length() > 0 && info[0].ToBoolean().Value());
  Napi::Value self = info.This();
  if (lost) {
    // The peer is gone: what was in flight to it will never complete normally
    // (without peer error handling UCX keeps waiting), so settle it now and
    // let UCX finish or drop the requests on its own time.
    for (Op* pending : std::vector<Op*>(state_->ops.begin(), state_->ops.end())) {
      // Handing the request back to UCX means no callback will come for it;
      // UCX may still touch its buffers, so they stay referenced until the
      // worker is gone.
      ucp_request_free(pending->request);
      t->Bury(std::move(pending->keepAlive));
      t->OpOrphaned();
      pending->deferred.Reject(MakeError(env, "ERR_PEER_UNREACHABLE", pending->what + " failed: the peer is gone").Value());
      delete pending;
    }
    state_->ops.clear();
  }
  t->ForgetEndpoint(state_);
  Op* op = new Op(t, env, "close");
  op->ignoreErrors = true;
  op->keepAlive.push_back(Napi::Persistent(self));
  ucp_request_param_t param = OpParams(op);
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
  // UCX accepts a forced close only on endpoints created with peer error
  // handling; without it a forced close is refused and the endpoint would leak.
  param.flags = lost && t->errMode() == UCP_ERR_HANDLING_MODE_PEER ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  ucs_status_ptr_t r = ucp_ep_close_nbx(ep, &param);
  // Closing after the peer vanished reports the loss; the endpoint is gone
  // either way, so closing always resolves.
  if (UCS_PTR_IS_ERR(r)) r = nullptr;
  if (lost && r != nullptr) {
    // A graceful close towards a dead peer may never finish: resolve now, hand
    // the request back to UCX (no callback will come) and do not keep the
    // event loop busy for it.
    ucp_request_free(r);
    Napi::Promise promise = op->deferred.Promise();
    op->deferred.Resolve(env.Undefined());
    delete op;
    t->Drain();
    return promise;
  }
  return Track(t, op, r);
}

// describe() -> string: UCX's own description of the endpoint's lanes, which
// names the transports in use (e.g. "cma/memory", "tcp/lo", "rc_mlx5/mlx5_0:1").
Napi::Value Endpoint::Describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  return PrintedByUcx(env, [this](FILE* stream) { ucp_ep_print_info(state_->ep, stream); });
}

Napi::Value Endpoint::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->closed || state_->ep == nullptr);
}

}  // namespace rdmq

namespace rdmq {

Endpoint::~Endpoint() {
  // While open the transport owns the state (and keeps this object alive);
  // once closed nobody else refers to it.
  if (state_ != nullptr && state_->closed) delete state_;
}

// ------------------------------------------------------ MemoryRegistration

Napi::Function MemoryRegistration::Init(Napi::Env env) {
  return DefineClass(env, "MemoryRegistration",
                     {
                         InstanceMethod("packedKey", &MemoryRegistration::PackedKey),
                         InstanceMethod("deregister", &MemoryRegistration::Deregister),
                     });
}

// Created by Transport.registerMemory(region, offset, length, remoteWrite).
MemoryRegistration::MemoryRegistration(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemoryRegistration>(info) {
  Napi::Env env = info.Env();
  Constructors& ctors = Constructors::Of(env);
  if (info.Length() < 5 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctors.transport.Value())) {
    Throw(env, "ERR_INVALID_ARG", "memory is registered through Transport.registerMemory");
  }
  transport_ = Transport::Unwrap(info[0].As<Napi::Object>());
  transport_->CheckOpen(env);
  if (!info[1].IsObject()) Throw(env, "ERR_INVALID_ARG", "registerMemory: first argument must be a Region");
  Napi::Object regionObj = info[1].As<Napi::Object>();
  Napi::Value regionCtor = regionObj.Get("constructor");
  Region* region = nullptr;
  if (regionCtor.IsFunction() && regionCtor.As<Napi::Function>().Get("name").ToString().Utf8Value() == "Region") {
    napi_value raw = regionObj;
    void* wrapped = nullptr;
    if (napi_unwrap(env, raw, &wrapped) == napi_ok && wrapped != nullptr) region = static_cast<Region*>(wrapped);
  }
  if (region == nullptr) Throw(env, "ERR_INVALID_ARG", "registerMemory: first argument must be a Region");
  if (region->closed()) Throw(env, "ERR_REGION_CLOSED", "registerMemory: region is closed");
  uint64_t offset = ReadUint(info, 2, "offset");
  uint64_t length = ReadUint(info, 3, "length");
  if (length == 0 || offset > region->size() || length > region->size() - offset) {
    Throw(env, "ERR_OUT_OF_RANGE", "registerMemory: range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                       ") is empty or outside region of " + std::to_string(region->size()) + " bytes");
  }
  bool remoteWrite = info[4].ToBoolean().Value();
  ucp_mem_map_params_t mp{};
  mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH | (remoteWrite ? 0 : UCP_MEM_MAP_PARAM_FIELD_PROT);
  mp.address = region->base() + offset;
  mp.length = length;
  mp.prot = UCP_MEM_MAP_PROT_LOCAL_READ | UCP_MEM_MAP_PROT_LOCAL_WRITE | UCP_MEM_MAP_PROT_REMOTE_READ |
            (remoteWrite ? UCP_MEM_MAP_PROT_REMOTE_WRITE : 0);
  ucs_status_t status = ucp_mem_map(transport_->context(), &mp, &memh_);
  if (status != UCS_OK) throw StatusError(env, "ucp_mem_map", status);
  address_ = reinterpret_cast<uint64_t>(region->base() + offset);
  length_ = length;
  writable_ = remoteWrite;
  transportRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  regionRef_ = Napi::Persistent(regionObj);
  transport_->registrations_.insert(this);
}

MemoryRegistration::~MemoryRegistration() { Release(); }

void MemoryRegistration::Release() {
  if (memh_ != nullptr && transport_ != nullptr && transport_->context() != nullptr) {
    ucp_mem_unmap(transport_->context(), memh_);
  }
  memh_ = nullptr;
  if (transport_ != nullptr) transport_->registrations_.erase(this);
  transport_ = nullptr;
  if (!transportRef_.IsEmpty()) transportRef_.Reset();
  if (!regionRef_.IsEmpty()) regionRef_.Reset();
}

// packedKey() -> Buffer: [magic u32][version u32][address u64][length u64][rkeyLength u32]
//                        [access u8, pad 3][rkey]
Napi::Value MemoryRegistration::PackedKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (memh_ == nullptr) Throw(env, "ERR_DEREGISTERED", "memory registration has been released");
  void* rkeyBuf = nullptr;
  size_t rkeySize = 0;
  ucs_status_t status = ucp_rkey_pack(transport_->context(), memh_, &rkeyBuf, &rkeySize);
  if (status != UCS_OK) throw StatusError(env, "ucp_rkey_pack", status);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, kKeyHeaderBytes + rkeySize);
  uint8_t* p = out.Data();
  uint32_t magic = kKeyMagic, version = kKeyVersion, rlen = static_cast<uint32_t>(rkeySize);
  memcpy(p, &magic, 4);
  memcpy(p + 4, &version, 4);
  memcpy(p + 8, &address_, 8);
  memcpy(p + 16, &length_, 8);
  memcpy(p + 24, &rlen, 4);
  memset(p + kKeyAccessOffset, 0, 4);
  p[kKeyAccessOffset] = writable_ ? 1 : 0;
  memcpy(p + kKeyHeaderBytes, rkeyBuf, rkeySize);
  ucp_rkey_buffer_release(rkeyBuf);
  return out;
}

Napi::Value MemoryRegistration::Deregister(const Napi::CallbackInfo& info) {
  if (memh_ == nullptr) Throw(info.Env(), "ERR_DEREGISTERED", "memory registration has already been released");
  Release();
  return info.Env().Undefined();
}

// --------------------------------------------------------------- RemoteKey

Napi::Function RemoteKey::Init(Napi::Env env) {
  return DefineClass(env, "RemoteKey",
                     {
                         InstanceMethod("destroy", &RemoteKey::Destroy),
                         InstanceAccessor("length", &RemoteKey::GetLength, nullptr),
                     });
}

// Created by Endpoint.importKey(packed).
RemoteKey::RemoteKey(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RemoteKey>(info) {
  Napi::Env env = info.Env();
  Constructors& ctors = Constructors::Of(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctors.endpoint.Value())) {
    Throw(env, "ERR_INVALID_ARG", "remote keys are imported through Endpoint.importKey");
  }
  EpState* st = Endpoint::Unwrap(info[0].As<Napi::Object>())->state();
  Napi::Uint8Array packed = ReadBytes(info, 1, "packed key");
  const uint8_t* p = packed.Data();
  size_t n = packed.ByteLength();
  uint32_t magic = 0, version = 0, rlen = 0;
  if (n >= kKeyHeaderBytes) {
    memcpy(&magic, p, 4);
    memcpy(&version, p + 4, 4);
    memcpy(&address_, p + 8, 8);
    memcpy(&length_, p + 16, 8);
    memcpy(&rlen, p + 24, 4);
  }
  if (n < kKeyHeaderBytes || magic != kKeyMagic) Throw(env, "ERR_BAD_REMOTE_KEY", "not an rdmq remote key");
  if (version != kKeyVersion) {
    Throw(env, "ERR_BAD_REMOTE_KEY", "remote key version " + std::to_string(version) + " is not supported (expected " +
                                         std::to_string(kKeyVersion) + ")");
  }
  if (rlen == 0 || kKeyHeaderBytes + rlen != n) Throw(env, "ERR_BAD_REMOTE_KEY", "remote key is truncated or has trailing bytes");
  if (length_ == 0 || address_ + length_ < address_) Throw(env, "ERR_BAD_REMOTE_KEY", "remote key describes an invalid range");
  writable_ = p[kKeyAccessOffset] == 1;
  ucs_status_t status = ucp_ep_rkey_unpack(st->ep, p + kKeyHeaderBytes, &rkey_);
  if (status != UCS_OK) {
    rkey_ = nullptr;
    Throw(env, "ERR_BAD_REMOTE_KEY", std::string("remote key was rejected by UCX: ") + StatusText(status));
  }
  ep_ = st;
  st->rkeys.insert(this);
}

RemoteKey::~RemoteKey() { Release(); }

void RemoteKey::Release() {
  if (rkey_ != nullptr) ucp_rkey_destroy(rkey_);
  rkey_ = nullptr;
  if (ep_ != nullptr) ep_->rkeys.erase(this);
  ep_ = nullptr;
}

Napi::Value RemoteKey::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value RemoteKey::GetLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(length_)); }

}  // namespace rdmq
