// interrupt.h: Ctrl-C during a long kernel call. The binding installs, for a call made from
// Python's main thread, a check that takes the GIL and runs Python's signal handlers; the time
// loops poll it between steps on the calling thread, at most every couple of milliseconds, and
// stop early when it reports a pending KeyboardInterrupt (which the binding then raises).
#pragma once

namespace fastrnn {

using InterruptCheck = bool (*)();  // true: an exception is pending (set by the check itself)

// For the lifetime of one kernel call on this thread.
class InterruptScope {
 public:
  explicit InterruptScope(InterruptCheck check);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  bool interrupted() const;  // whether the call was stopped
};

// Polled between steps by the thread that made the call: runs the check when enough time has
// passed since the last one; once true, stays true for the rest of the call. False on threads
// without a scope (pool workers, calls from other Python threads).
bool interrupt_requested();
bool call_interrupted();  // whether this thread's call was stopped (no check run)

}  // namespace fastrnn
