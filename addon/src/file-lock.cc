#include "file-lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "errors.h"

namespace rdmq {

Napi::Value LockFileExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) Throw(env, "ERR_INVALID_ARG", "lockFileExclusive(path) needs a path string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  // O_CLOEXEC: a child process must not inherit (and so keep) the lock.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) Throw(env, "ERR_LOCK_OPEN", "cannot open lock file " + path + ": " + strerror(errno));
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) Throw(env, "ERR_LOCKED", path + " is locked by another process");
    Throw(env, "ERR_LOCK_OPEN", "cannot lock " + path + ": " + strerror(err));
  }
  return Napi::Number::New(env, fd);
}

}  // namespace rdmq
