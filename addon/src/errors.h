// Errors thrown into JS carry a stable `code` so the TypeScript facade can map
// them to typed errors without matching message text.
#pragma once
#include <napi.h>
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

}  // namespace rdmq
