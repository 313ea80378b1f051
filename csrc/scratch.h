// scratch.h: memory for one kernel call, carved from grow-only arenas kept per calling thread.
// Fresh large allocations page-fault on first touch (a fifth of a large call), so the arenas
// are reused from call to call. Not zero-filled: every kernel writes before it reads. Within one
// arena, the Scratch objects of a call are created in order and released together at the end;
// the packed weights have an arena of their own. One that does not fit an arena already in use
// gets memory of its own (the arena grows when next empty). An arena is freed when its thread
// exits or by release_idle_arenas() (scratch.cpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace fastrnn {

enum class Arena : int { Sequences = 0, Weights = 1 };

// One thread's arenas. `in_call` is held from the first live Scratch of the thread to the last,
// so that release_idle_arenas() (from any thread) frees only arenas no call is using.
struct ThreadArenas {
  static constexpr int kCount = 2;
  char* base[kCount] = {};
  std::atomic<int64_t> capacity[kCount] = {};  // bytes mapped at base (read by other threads' reports)
  int64_t used[kCount] = {};      // bytes handed out to live Scratch objects
  int64_t wanted[kCount] = {};    // high-water mark of what the calls asked for at once
  int live = 0;                   // Scratch objects alive on this thread
  std::mutex in_call;
};

ThreadArenas& thread_arenas();                    // the calling thread's (registered on first use)
void grow_arena(ThreadArenas& a, int slot);       // capacity = wanted (the old block is unmapped)
char* map_scratch(int64_t bytes);                 // for a Scratch that has memory of its own
void unmap_scratch(char* p, int64_t bytes);
int64_t release_idle_arenas();                    // frees arenas no call uses; returns the bytes
int64_t arena_bytes();                            // mapped by all threads' arenas now
int arena_threads();                              // threads holding arena memory now

namespace FASTRNN_ISA {  // per SIMD level, like every inline helper of the kernels

class Scratch {
 public:
  explicit Scratch(int64_t bytes, Arena arena = Arena::Sequences)
      : arenas_(thread_arenas()), slot_(static_cast<int>(arena)), bytes_((bytes + 63) / 64 * 64) {
    if (arenas_.live++ == 0) arenas_.in_call.lock();
    offset_ = arenas_.used[slot_];
    const int64_t need = offset_ + bytes_;
    arenas_.wanted[slot_] = std::max(arenas_.wanted[slot_], need);
    // an empty arena grows to what the calls have wanted at once, so that memory of its own (fresh
    // pages, faulted in at every call) is needed only the first time a call outgrows it
    if (offset_ == 0 && arenas_.wanted[slot_] > arenas_.capacity[slot_]) grow_arena(arenas_, slot_);
    if (need > arenas_.capacity[slot_]) {  // the arena is in use and cannot move
      own_ = map_scratch(bytes_);
      return;
    }
    arenas_.used[slot_] = need;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (own_) unmap_scratch(own_, bytes_);
    else arenas_.used[slot_] = offset_;
    if (--arenas_.live == 0) arenas_.in_call.unlock();
  }

  // 64-byte aligned: arena blocks are page aligned and every offset is a multiple of 64
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(own_ ? own_ : arenas_.base[slot_] + offset_);
  }

 private:
  ThreadArenas& arenas_;
  const int slot_;
  const int64_t bytes_;
  int64_t offset_ = 0;
  char* own_ = nullptr;  // set when the arena could not grow
};

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
