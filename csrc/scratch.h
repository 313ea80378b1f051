// scratch.h: memory for one kernel call, carved from grow-only arenas kept per calling thread.
// Large fresh allocations come from mmap and page-fault on first touch (a fifth of a large
// call), so the arenas are reused from call to call. Not zero-filled: every kernel writes
// before it reads. Within one arena, the Scratch objects of a call must be created in order
// and are released together at the end; the packed weights have an arena of their own. One that
// does not fit an arena already in use gets memory of its own (the arena grows when next empty).
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>

namespace fastrnn {
namespace FASTRNN_ISA {  // per SIMD level, like every inline helper of the kernels

enum class Arena : int { Sequences = 0, Weights = 1 };

class Scratch {
 public:
  explicit Scratch(int64_t bytes, Arena arena = Arena::Sequences)
      : slot_(static_cast<int>(arena)), offset_(used()[slot_]) {
    const int64_t need = offset_ + (bytes + 63) / 64 * 64;
    wanted()[slot_] = std::max(wanted()[slot_], need);
    if (need > capacity()[slot_]) {
      if (offset_ != 0) {  // the arena is in use and cannot move: this one gets memory of its own
        own_.reset(new char[bytes + 64]);
        return;
      }
      capacity()[slot_] = wanted()[slot_];  // room for what the last calls wanted at once
      memory()[slot_].reset(new char[capacity()[slot_] + 64]);
    }
    used()[slot_] = need;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (!own_) used()[slot_] = offset_;
  }

  template <typename T>
  T* as() const {
    if (own_) return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(own_.get()) + 63) / 64 * 64);
    const uintptr_t base = reinterpret_cast<uintptr_t>(memory()[slot_].get());
    return reinterpret_cast<T*>((base + 63) / 64 * 64 + offset_);
  }

 private:
  static constexpr int kArenas = 2;
  static std::unique_ptr<char[]>* memory() { thread_local std::unique_ptr<char[]> m[kArenas]; return m; }
  static int64_t* capacity() { thread_local int64_t c[kArenas] = {}; return c; }
  static int64_t* used() { thread_local int64_t u[kArenas] = {}; return u; }
  static int64_t* wanted() { thread_local int64_t w[kArenas] = {}; return w; }  // high-water mark
  const int slot_;
  const int64_t offset_;
  std::unique_ptr<char[]> own_;  // set when the arena could not grow
};

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
