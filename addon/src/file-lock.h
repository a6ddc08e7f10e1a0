// An exclusive advisory lock on a file, held by an open descriptor: the
// kernel releases it when the descriptor is closed or the process dies,
// however it dies. Policy (what the file holds, what a holder means) lives in
// TypeScript.
#pragma once
#include <napi.h>

namespace rdmq {

// lockFileExclusive(path): opens (creating) `path` and takes flock(LOCK_EX |
// LOCK_NB) on it; returns the descriptor, which the caller owns (closing it
// releases the lock). Throws ERR_LOCKED when another open file holds it.
Napi::Value LockFileExclusive(const Napi::CallbackInfo& info);

}  // namespace rdmq
