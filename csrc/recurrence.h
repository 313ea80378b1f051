// recurrence.h: the parts of a recurrent layer that do not depend on the cell, shared by
// simple_rnn.cpp and lstm.cpp (and so compiled once per SIMD level with them): the big
// products outside the time loop, how the time loop is split between threads, the gather of
// previous states and the column sums.
#pragma once
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "blas.h"
#include "common.h"
#include "packed.h"
#include "pool.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// projection (T*B, G*H) = x (T*B, D) @ kernel (D, G*H), rows in x's layout. Bias is added later,
// in the fused step, so this is one plain product.
template <typename T>
inline void input_projection(const RnnProblem& p, int G, const T* x, const T* kernel, T* projection) {
  parallel_gemm<T>(false, false, p.T * p.B, G * p.H, p.D, T(1), x, p.D, kernel, G * p.H, T(0), projection,
                   G * p.H);
}

// How the time loop is shared. By rows: each thread owns a slice of the batch for every step
// and never waits for the others. By units: each thread owns a slice of the packed panels (its
// share of the recurrent weights stays in its own L2) for all rows, and the threads meet at a
// barrier once per step. FASTRNN_SPLIT=rows|units forces one (tests, tuning).
struct LoopSplit {
  int threads = 1;
  bool by_units = false;
  int64_t rows_begin(int t, int64_t B) const { return by_units ? 0 : B * t / threads; }
  int64_t rows_end(int t, int64_t B) const { return by_units ? B : B * (t + 1) / threads; }
  int64_t panels_begin(int t, int64_t P) const { return by_units ? P * t / threads : 0; }
  int64_t panels_end(int t, int64_t P) const { return by_units ? P * (t + 1) / threads : P; }
};

// The units split on a busy machine: when a thread had to sleep at the step barrier (another
// thread was descheduled), thread 0 runs the remaining steps alone instead of waiting for a
// scheduler slice at every step (the first barrier does not count: it includes waking the
// workers). A request made after barrier k takes effect at step k + 2, so
// every thread, reading it after barrier k + 1, switches at the same step. Same bits either way.
class SoloSwitch {
 public:
  void request(int64_t step) {
    int64_t current = from_.load();
    while (step < current && !from_.compare_exchange_weak(current, step)) {
    }
  }
  bool active(int64_t step) const { return step >= from_.load(); }

 private:
  std::atomic<int64_t> from_{INT64_MAX};
};

inline LoopSplit loop_split(int64_t B, int64_t panels, int64_t packed_bytes) {
  const int n = pool_threads();
  const char* env = std::getenv("FASTRNN_SPLIT");
  bool units;
  if (env && std::strcmp(env, "units") == 0) units = true;
  else if (env && std::strcmp(env, "rows") == 0) units = false;
  else  // rows when every thread gets whole tiles and the weights fit a core's L2 share
    units = panels >= 2 && !(B >= 2 * n * kTileRows && packed_bytes <= (1 << 20));
  LoopSplit split;
  split.by_units = units;
  split.threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, units ? panels : B)));
  return split;
}

// Scratch memory for one call, carved from a grow-only arena kept per calling thread: large
// fresh allocations come from mmap and page-fault on first touch (a fifth of a large call), so
// the arena is reused from call to call. Not zero-filled: every kernel writes before it reads.
// Scratch objects of one call must be created in order and are released together at the end.
class Scratch {
 public:
  explicit Scratch(int64_t bytes) : offset_(used()) {
    const int64_t need = offset_ + (bytes + 63) / 64 * 64;
    if (need > capacity()) {
      if (offset_ != 0) throw std::logic_error("fastrnn: scratch arena grown while in use");
      arena().reset(new char[need + 64]);
      capacity() = need;
    }
    used() = need;
  }
  ~Scratch() { used() = offset_; }
  template <typename T>
  T* as() {
    const uintptr_t base = reinterpret_cast<uintptr_t>(arena().get());
    return reinterpret_cast<T*>((base + 63) / 64 * 64 + offset_);
  }

 private:
  static std::unique_ptr<char[]>& arena() { thread_local std::unique_ptr<char[]> a; return a; }
  static int64_t& capacity() { thread_local int64_t c = 0; return c; }
  static int64_t& used() { thread_local int64_t u = 0; return u; }
  int64_t offset_;
};

// Asks for the cache lines of values [0, n) at address v before a later step reads them: the
// per-position rows of a step lie T rows apart in (B, T, *) arrays, so no hardware prefetcher
// sees them coming.
template <typename T>
inline void prefetch(const T* v, int64_t n, bool for_write = false) {
  for (int64_t i = 0; i < n; i += 64 / static_cast<int64_t>(sizeof(T))) {
    if (for_write) __builtin_prefetch(v + i, 1);
    else __builtin_prefetch(v + i, 0);
  }
}

// state_prev (T*B, H): per position, the state the step consumed (h_{t-1} or c_{t-1}), taken from
// the per-position states and the initial state; zero at positions past a sequence's length.
template <typename T>
inline void gather_previous_states(const RnnProblem& p, const T* states, const T* initial, T* state_prev) {
  const int64_t H = p.H;
  auto job = [&](int t, int n) {
    for (int64_t b = p.B * t / n; b < p.B * (t + 1) / n; ++b) {
      for (int64_t pos = 0; pos < p.T; ++pos) {
        T* dst = state_prev + p.row(pos, b) * H;
        if (pos >= p.length(b)) {
          std::fill(dst, dst + H, T(0));
          continue;
        }
        const int64_t prev = p.previous_position(pos, b);
        const T* src = prev < 0 ? initial + b * H : states + p.row(prev, b) * H;
        std::copy(src, src + H, dst);
      }
    }
  };
  parallel_for_threads(static_cast<int>(std::min<int64_t>(pool_threads(), std::max<int64_t>(p.B, 1))), job);
}

// The products after the backward time loop, over all steps at once:
//   dx = dz @ kernel^T,  dkernel = x^T @ dz,  drecurrent_kernel = state_prev^T @ dz,
//   dbias = column sums of dz, with dz (T*B, G*H) the gradient at the pre-activations.
template <typename T>
inline void weight_gradients(const RnnProblem& p, int G, const T* x, const T* kernel, const T* state_prev,
                             const T* dz, T* dx, T* dkernel, T* drecurrent_kernel, T* dbias) {
  const int64_t rows = p.T * p.B, N = G * p.H;
  parallel_gemm<T>(false, true, rows, p.D, N, T(1), dz, N, kernel, N, T(0), dx, p.D);
  parallel_gemm<T>(true, false, p.D, N, rows, T(1), x, p.D, dz, N, T(0), dkernel, N);
  parallel_gemm<T>(true, false, p.H, N, rows, T(1), state_prev, p.H, dz, N, T(0), drecurrent_kernel, N);
  // Column sums split by column blocks: every sum runs in row order, whatever the threads.
  const int64_t block = 64, blocks = (N + block - 1) / block;
  auto job = [&](int t, int n) {
    for (int64_t j0 = block * (blocks * t / n); j0 < std::min(N, block * (blocks * (t + 1) / n)); j0 += block) {
      const int64_t j1 = std::min(N, j0 + block);
      std::fill(dbias + j0, dbias + j1, T(0));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = j0; j < j1; ++j) dbias[j] += dz[r * N + j];
    }
  };
  parallel_for_threads(static_cast<int>(std::min<int64_t>(pool_threads(), std::max<int64_t>(blocks, 1))), job);
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
