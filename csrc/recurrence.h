// recurrence.h: the parts of the time loops that depend neither on the cell nor on the direction,
// shared by simple_rnn.cpp and lstm.cpp (and so compiled once per SIMD level with them): how a
// loop is split between threads, the weights packed into panels, prefetches and padded rows, and
// writes that bypass the caches. The loops themselves: forward_loop.h, backward_loop.h.
#pragma once
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.h"
#include "interrupt.h"
#include "packed.h"
#include "pool.h"
#include "scratch.h"
#include "simd.h"
#include "tuning.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// How the time loop is shared. By rows: each thread owns a slice of the batch for every step
// and never waits for the others. By units: each thread owns a slice of the packed panels (its
// share of the recurrent weights stays in its own L2) for all rows, and the threads meet at a
// barrier once per step. tuning.h's split forces one (tests, tuning).
struct LoopSplit {
  int threads = 1;
  bool by_units = false;
  int64_t rows_begin(int t, int64_t B) const { return by_units ? 0 : B * t / threads; }
  int64_t rows_end(int t, int64_t B) const { return by_units ? B : B * (t + 1) / threads; }
  int64_t panels_begin(int t, int64_t P) const { return by_units ? P * t / threads : 0; }
  int64_t panels_end(int t, int64_t P) const { return by_units ? P * (t + 1) / threads : P; }
};

// A switch every thread of the loop sees flip at the same step: a request made after step k's
// barrier takes effect at step k + 2, so every thread, reading it after barrier k + 1, agrees.
// Two uses. On a busy machine, when a thread had to sleep at the step barrier (another thread was
// descheduled), thread 0 runs the remaining steps alone instead of waiting for a scheduler slice
// at every step (the first barrier does not count: it includes waking the workers); same bits
// either way. On Ctrl-C (interrupt.h, polled by thread 0), every thread stops.
class StepSwitch {
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

// Whether a time loop is too small to gain from more than one thread: its estimated time on one
// thread (its products, and the packing of its weights) is short (threads_for, pool.h), or, split
// by units, where every step waits at a barrier for the slowest thread, its steps are each under
// kMinStepFlops (bench/small_calls.py: below it a second thread gains little on a quiet machine,
// and on a busy one a step may wait milliseconds for it).
constexpr double kMinStepFlops = 1e5;

inline bool one_thread_suffices(const RnnProblem& p, double step_flops, int64_t packed_bytes, bool units) {
  // a batch smaller than a tile's rows runs the products at that fraction of the rate (bound by
  // the weights' loads: batch 1 at ~25 GFLOP/s a core)
  const double slowdown = std::max(1.0, static_cast<double>(kTileRows) / std::max<int64_t>(p.B, 1));
  const double micros = slowdown * product_micros(p.T * step_flops) + copy_micros(static_cast<double>(packed_bytes));
  return threads_for(micros) == 1 || (units && step_flops < kMinStepFlops);
}

// The split of a loop whose steps multiply B rows by `panels` panels of K x width packed weights.
inline LoopSplit loop_split(const RnnProblem& p, int64_t K, int64_t panels, int64_t width, int64_t packed_bytes) {
  const int n = pool_threads();
  const auto choice = static_cast<SplitChoice>(tuning().split.load());
  const bool forced = choice != SplitChoice::Automatic;
  bool units;
  if (forced) units = choice == SplitChoice::Units;
  else  // rows when every thread gets whole tiles and the weights fit a core's L2 share
    units = panels >= 2 && !(p.B >= 2 * n * kTileRows && packed_bytes <= (1 << 20));
  LoopSplit split;
  split.by_units = units;
  split.threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, units ? panels : p.B)));
  if (!forced && one_thread_suffices(p, 2.0 * p.B * K * panels * width, packed_bytes, units)) split.threads = 1;
  if (!forced && split.threads == 1) split.by_units = false;  // no barrier, and chunked gradients
  return split;
}

// Asks for the cache lines of values [0, n) at address v before the cell reads them: the
// per-position rows of a step lie T rows apart in (B, T, *) arrays, so no hardware prefetcher
// sees them coming. Locality 3 brings them to L1, 2 to L2 (for data needed after a whole panel
// product has streamed its weights through L1).
template <int Locality, typename T>
inline void prefetch(const T* v, int64_t n, bool for_write = false) {
  for (int64_t i = 0; i < n; i += 64 / static_cast<int64_t>(sizeof(T))) {
    if (for_write) __builtin_prefetch(v + i, 1, Locality);
    else __builtin_prefetch(v + i, 0, Locality);
  }
}

// Rows of the per-step buffers (h_{t-1} and h_t in forward, this step's dz in backward) are one
// cache line longer than n so that the rows of a tile do not all fall into the same L1 sets (n =
// 1024 floats is a 4 KB stride).
template <typename T>
constexpr int64_t padded(int64_t n) {
  return n + 64 / static_cast<int64_t>(sizeof(T));
}

// Whether a result of `values` Ts is larger than the cores' L2s: it would not stay cached for its
// next reader anyway, so the kernels write it with streaming stores (copy_row), which neither read
// its lines first nor evict what the steps reuse.
template <typename T>
inline bool outgrows_caches(int64_t values) {
  return values * static_cast<int64_t>(sizeof(T)) > pool_threads() * (int64_t(2) << 20);
}

// out[0, n) = in[0, n), with streaming stores (whole aligned vectors) when `stream`.
template <typename T>
inline void copy_row(const T* in, int64_t n, T* out, bool stream) {
  if (!stream) return copy_values(in, n, out);
  for (int64_t j = 0; j < n; j += lanes<T>()) {
    const int64_t w = std::min<int64_t>(lanes<T>(), n - j);
    stream_lanes(out + j, load_lanes(in + j, w), w);
  }
}

// [kernel; recurrent_kernel] (D + H, N) as the time loop sees it: D = p.D when the input product
// is fused into the step, else 0 (recurrent_kernel alone). Stored by rows (PackedPanels::fill).
template <typename T>
struct StackedWeights {
  static constexpr bool by_rows = true;
  const T* kernel;
  const T* recurrent_kernel;
  int64_t D, N;
  const T* row(int64_t k) const { return k < D ? kernel + k * N : recurrent_kernel + (k - D) * N; }
};

// Weights packed once per call, by the loop's threads, into `panels` panels of `vectors`
// vectors: value (k, c) of panel q is source (k, column_of(q, c)), or 0 where column_of is
// negative. With kernel_panels, the kernel's D rows (kernel_rows) are packed the same way, for the
// input product made from them before forward's loop (InputProduct::packed). Returns the loop
// split for the size of `packed`.
template <typename T, typename ColumnOf, typename Source>
LoopSplit pack_recurrent(const RnnProblem& p, int64_t K, int64_t panels, int vectors, ColumnOf column_of,
                         const Source& source, PackedPanels<T>& packed, const StackedWeights<T>* kernel_rows = nullptr,
                         PackedPanels<T>* kernel_panels = nullptr) {
  packed.resize(K, panels, vectors);
  if (kernel_panels) kernel_panels->resize(p.D, panels, vectors);
  const LoopSplit split = loop_split(p, K, packed.panels, packed.width, packed.bytes());
  auto pack = [&](int t, int n) {
    packed.fill(packed.panels * t / n, packed.panels * (t + 1) / n, column_of, source);
    if (kernel_panels) kernel_panels->fill(panels * t / n, panels * (t + 1) / n, column_of, *kernel_rows);
  };
  parallel_for_threads(split.threads, pack);
  return split;
}

// Panels of U = vectors * L consecutive columns of a (K, columns) matrix (panel q = columns
// [q*U, q*U + U)): the weights for SimpleRNN's forward, recurrent_kernel^T for backward.
template <typename T, typename Source>
LoopSplit pack_units(const RnnProblem& p, int64_t K, int64_t columns, const Source& source, PackedPanels<T>& packed,
                     const StackedWeights<T>* kernel_rows = nullptr, PackedPanels<T>* kernel_panels = nullptr) {
  const int nv = vectors_for_units<T>(columns);
  const int64_t U = nv * lanes<T>();
  auto column_of = [&](int64_t q, int c) { const int64_t u = q * U + c; return u < columns ? u : -1; };
  return pack_recurrent(p, K, (columns + U - 1) / U, nv, column_of, source, packed, kernel_rows, kernel_panels);
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
