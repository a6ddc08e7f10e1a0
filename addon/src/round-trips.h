// The machine's own floor under one message and its answer between two
// processes: no library, no event loop, no copy, just the kernel and the
// scheduler waking the other side. Every publish through a storage node
// without an RDMA NIC pays at least one of these per process it crosses.
#pragma once
#include <napi.h>

namespace rdmq {

// measureRoundTrips(count): forks a child that echoes one byte over a Unix
// socketpair, times `count` blocking round trips (write a byte, read its
// echo) from this thread, and returns each one's microseconds as a
// Float64Array. Blocks the calling thread for the whole run. Throws
// ERR_ROUND_TRIPS with the errno's text when the pair or the child cannot
// be made, or the child stops answering.
Napi::Value MeasureRoundTrips(const Napi::CallbackInfo& info);

}  // namespace rdmq
