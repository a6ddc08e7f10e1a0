// Errors thrown into JS carry a stable `code` so the TypeScript facade can map
// them to typed errors without matching message text.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>

namespace rdmq {

inline Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

[[noreturn]] inline void Throw(Napi::Env env, const char* code, const std::string& message) {
  throw MakeError(env, code, message);
}

/** Argument `index` as a non-negative integer JS can hold exactly; ERR_INVALID_ARG naming `name` otherwise. */
inline uint64_t ReadUint(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a number");
  }
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 9007199254740991.0 || v != static_cast<double>(static_cast<uint64_t>(v))) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(v);
}

}  // namespace rdmq
