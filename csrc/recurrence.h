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
#include <optional>
#include <vector>

#include "blas.h"
#include "common.h"
#include "packed.h"
#include "pool.h"
#include "scratch.h"
#include "vector_math.h"

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

// Where forward makes the input product x_t @ kernel:
//   blas: one OpenBLAS product for all steps before the loop, which the cells add in;
//   fused: in each step, which multiplies [x_t | h_{t-1}] by [kernel; recurrent_kernel] instead of
//     h_{t-1} alone. The flops are the same; what it saves is writing and re-reading the (T*B,
//     G*H) projection, whose rows the step reads T apart. What it costs is streaming the larger
//     stacked weights through the cores at every step, which pays when they fit the cores' L2
//     (1 MB each), or x is narrow beside h (D <= H/4), or enough rows share each weight line (B
//     >= 48). Measured (LSTM inference, after the step barrier stopped sleeping): 1.1-1.9x
//     faster fused at (28, 128, 28, 128), (500, 128, 32, 32), (100, 64, 64, 1024); with D = H =
//     512, 1.0x at B = 32, 1.07x at 48, 1.15x at 64, 1.07x at 128 (0.88x at B = 16); 0.67x at
//     batch 1, where each step's product is latency-bound.
//   packed: before the loop too, but from the kernel packed into the same panels as the
//     recurrent weights, by each thread for its own panels and rows, into its own L2: each step's
//     tile then starts from x's part and adds h_{t-1}'s (the same sums, in the same order, as
//     fused). For batches too small for fused whose weights fit the L2s (OpenBLAS is slow on
//     their few rows): forward 1.04-1.13x for SimpleRNN (100, 1, 256, 256) and (100, 1, 512,
//     512), 1.04-1.07x for LSTM (100, 4, 256, 256), 1.15x at (100, 2, 128, 128), 1.0x at (100,
//     1, 256, 256); 0.89x for LSTM (100, 1, 512, 512), whose weights do not fit.
// FASTRNN_INPUT_PRODUCT=blas|fused|packed forces one.
enum class InputProduct { blas, fused, packed };

template <typename T>
inline InputProduct input_product(const RnnProblem& p, int G) {
  const char* env = std::getenv("FASTRNN_INPUT_PRODUCT");
  if (env && std::strcmp(env, "blas") == 0) return InputProduct::blas;
  if (env && std::strcmp(env, "fused") == 0) return InputProduct::fused;
  if (env && std::strcmp(env, "packed") == 0) return InputProduct::packed;
  const int64_t stacked_bytes = (p.D + p.H) * G * p.H * static_cast<int64_t>(sizeof(T));
  const bool fit = stacked_bytes <= pool_threads() * (int64_t(1) << 20);
  if (p.B >= 2 * kTileRows && (4 * p.D <= p.H || fit || p.B >= 48)) return InputProduct::fused;
  return fit ? InputProduct::packed : InputProduct::blas;
}

// Whether a result of `values` Ts is larger than the cores' L2s: it would not stay cached for its
// next reader anyway, so the kernels write it with streaming stores (copy_row), which neither read
// its lines first nor evict what the steps reuse. Measured: outputs, inference at (500, 128, 32,
// 32) 1.24x (LSTM) and 1.3x (SimpleRNN), 1.04x at (100, 64, 512, 512) (SimpleRNN); dx, backward
// at (500, 128, 32, 32) 1.03-1.06x and 1.04-1.08x.
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

// How a forward writes its outputs and, in training, the copy of them that backward reads (the
// caller may modify the outputs). Outputs that outgrow the caches are streamed, and the step
// writes the copy beside them the same way (instead of copying after the loop, from memory:
// training forward at (500, 128, 32, 32) 1.06x for LSTM, 1.14x for SimpleRNN). Smaller ones stay
// cached (1.05x at (28, 128, 28, 128), whose 1.8 MB of outputs the next layer reads from the
// caches), and are copied after the loop by every thread, whose share is mostly still in its L2
// (written by the step instead, SimpleRNN (28, 128, 28, 128) forward+backward measured 0.93-0.96x).
template <typename T>
class OutputWrites {
 public:
  // saved: the copy for backward, or null (inference)
  OutputWrites(const RnnProblem& p, T* saved)
      : stream(outgrows_caches<T>(p.T * p.B * p.H)), saved_beside(stream ? saved : nullptr), saved_(saved),
        n_(p.T * p.B * p.H) {}
  const bool stream;
  T* const saved_beside;  // the copy, when the step writes it; else null

  // After the loop: the copy = outputs, unless the step wrote it.
  void finish(const T* outputs) const {
    if (!saved_ || saved_beside) return;
    auto job = [&](int t, int threads) {
      std::copy(outputs + n_ * t / threads, outputs + n_ * (t + 1) / threads, saved_ + n_ * t / threads);
    };
    parallel_for_threads(pool_threads(), job);
  }

 private:
  T* const saved_;
  const int64_t n_;
};

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
  const LoopSplit split = loop_split(p.B, packed.panels, packed.bytes());
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

// The forward time loop shared by the cells. packed holds recurrent_kernel in panels of NV
// vectors, under kernel (K = D + H rows) when the input product is fused; kernel_panels holds
// kernel alone in the same panels when it is packed (then each thread first makes x's part of its
// panels' products for all positions, and the steps add h_{t-1}'s). At step s each thread
// multiplies its rows of [x_t | h_{t-1}] (h_{t-1} alone unless fused) by each of its panels q,
// first calling prefetch_next(pos, b, q') for each position pos and row b the update of its next
// panel q' will read (the first panel of the next step after the last), then update(s, b, q, z,
// h_prev, h_next) for each row b: the fused update of row b of the panel's product z, with h_prev
// and h_next row b of h_{t-1} and h_t. h_T gets the last state.
template <typename T, int NV, typename Update, typename Prefetch>
void forward_through_time(const RnnProblem& p, const PackedPanels<T>& packed, const LoopSplit& split,
                          InputProduct input, const T* x, const PackedPanels<T>& kernel_panels, const T* h0, T* h_T,
                          Update update, Prefetch prefetch_next) {
  const T* x_fused = input == InputProduct::fused ? x : nullptr;
  const int64_t B = p.B, H = p.H, D = x_fused ? p.D : 0, ldh = padded<T>(D + H);
  constexpr int W = NV * lanes<T>();
  // packed: x's part of panel q's product for position pos of sequence b, at x_part(q, b, pos)
  const bool packed_x = input == InputProduct::packed;
  Scratch x_parts(packed_x ? packed.panels * B * p.T * W * static_cast<int64_t>(sizeof(T)) : 0);
  T* const parts = x_parts.as<T>();  // (as() reads the calling thread's arena)
  auto x_part = [&](int64_t q, int64_t b, int64_t pos) { return parts + ((q * B + b) * p.T + pos) * W; };
  std::vector<T> states(2 * B * ldh);  // rows [x_t | h_{t-1}] and [x_{t+1} | h_t], swapped every step
  for (int64_t b = 0; b < B; ++b) std::copy(h0 + b * H, h0 + (b + 1) * H, states.data() + b * ldh + D);
  auto load_inputs = [&](int64_t s, T* rows, int64_t b0, int64_t b1) {  // x at step s, rows [b0, b1)
    for (int64_t b = b0; b < b1 && D > 0; ++b) {
      const int64_t pos = p.position(s, b), next = s + 1 < p.T ? p.position(s + 1, b) : -1;
      if (next >= 0) prefetch<2>(x_fused + p.row(next, b) * D, D);  // copied a step later
      if (pos >= 0) copy_values(x_fused + p.row(pos, b) * D, D, rows + b * ldh);
    }
  };
  load_inputs(0, states.data(), 0, B);
  Barrier barrier(split.threads);
  SoloSwitch solo;
  auto loop = [&](int t, int n) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
    std::vector<T> tile((r1 - r0) * W);  // the panel's product for this thread's rows
    T* z = tile.data();
    for (int64_t q = q0; q < q1 && packed_x; ++q)  // rows of sequence b lie row(1, b) - row(0, b) apart
      for (int64_t b = r0; b < r1; ++b)
        panel_product<T, NV>(p.length(b), x + p.row(0, b) * p.D, (p.row(1, b) - p.row(0, b)) * p.D, p.D,
                             kernel_panels.panel(q), x_part(q, b, 0));
    for (int64_t s = 0; s < p.T; ++s) {
      const bool alone = split.by_units && solo.active(s);
      if (alone) {  // thread 0 runs the remaining steps by itself (SoloSwitch)
        if (t != 0) return;
        q0 = 0, q1 = packed.panels;
      }
      const T* h_prev = states.data() + (s % 2) * B * ldh;
      T* h_next = states.data() + ((s + 1) % 2) * B * ldh;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t s_ahead = q + 1 < q1 ? s : s + 1, q_ahead = q + 1 < q1 ? q + 1 : q0;
        for (int64_t b = r0; b < r1 && s_ahead < p.T; ++b) {
          const int64_t pos = p.position(s_ahead, b);
          if (pos >= 0) prefetch_next(pos, b, q_ahead);
        }
        for (int64_t b = r0; b < r1 && packed_x; ++b) {
          const int64_t pos = p.position(s, b);
          if (pos >= 0) std::memcpy(z + (b - r0) * W, x_part(q, b, pos), W * sizeof(T));
        }
        panel_product<T, NV>(r1 - r0, h_prev + r0 * ldh, ldh, D + H, packed.panel(q), z, packed_x);
        for (int64_t b = r0; b < r1; ++b)
          update(s, b, q, z + (b - r0) * W, h_prev + b * ldh + D, h_next + b * ldh + D);
      }
      // the next step's x, a share of the rows per thread (before the barrier: all threads read all rows)
      if (s + 1 < p.T) load_inputs(s + 1, h_next, alone ? 0 : B * t / n, alone ? B : B * (t + 1) / n);
      if (split.by_units && !alone && barrier.wait() && s > 0) solo.request(s + 2);  // h_t complete first
    }
  };
  parallel_for_threads(split.threads, loop);
  const T* h_last = states.data() + (p.T % 2) * B * ldh + D;
  for (int64_t b = 0; b < B; ++b) std::copy(h_last + b * ldh, h_last + b * ldh + H, h_T + b * H);
}

// dx (T*B, D) = dz (T*B, G*H) @ kernel^T for narrow x (D <= 4 vectors: one panel of packed
// kernel^T) comes from fastrnn's own kernel: OpenBLAS reaches only ~80 GFLOP/s per core on these
// few columns (LSTM (28, 128, 28, 128) backward measured 1.04x with it).
template <typename T>
inline bool narrow_input(const RnnProblem& p) {
  return p.D <= 4 * lanes<T>();
}

// kernel^T (G*H, D) packed as that one panel.
template <typename T>
inline void pack_kernel_transposed(const RnnProblem& p, int G, const T* kernel, PackedPanels<T>& packed) {
  const int64_t N = G * p.H, D = p.D;
  packed.resize(N, 1, vectors_for_units<T>(D));
  packed.fill(0, 1, [&](int64_t, int c) { return c < D ? int64_t(c) : int64_t(-1); }, Transposed<T>{kernel, N});
}

// dx rows = dz rows (rows, G*H; row stride ldz) @ kernel^T with the packed panel, in blocks of
// rows; row i of the product goes to dx + destination(i) * D (streamed when `stream`). The panel
// is not cut into K chunks: it stays in L2 for every block, while chunks would cut the dz rows,
// streamed from memory after the loop, into short strided pieces ((100, 64, 64, 1024) backward
// 1.02-1.03x unchunked).
template <typename T, typename Destination>
inline void narrow_product(int64_t rows, int64_t D, const T* dz, int64_t ldz, const PackedPanels<T>& kernel_t, T* dx,
                           Destination destination, bool stream) {
  with_vectors(kernel_t.vectors, [&](auto NV) {
    constexpr int W = decltype(NV)::value * lanes<T>();
    constexpr int64_t kBlock = 16 * kTileRows;
    T z[kBlock * W];
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const int64_t m = std::min(kBlock, rows - r0);
      panel_product<T, decltype(NV)::value>(m, dz + r0 * ldz, ldz, kernel_t.K, kernel_t.panel(0), z, false,
                                            INT64_MAX);
      for (int64_t i = 0; i < m; ++i) copy_row(z + i * W, D, dx + destination(r0 + i) * D, stream);
    }
  });
}

// [x | h_{t-1} | 1] (D + H + 1 values) for input position pos of sequence b: x's row, the state
// that step consumed (states' row of the previous position, or initial for the first) and a one,
// so that one product with dz gives dkernel, drecurrent_kernel and dbias together; all zeros for
// an ended sequence (pos < 0 or past its length), whose dz is zero.
template <typename T>
inline void gradient_input_row(const RnnProblem& p, const T* x, const T* states, const T* initial, int64_t pos,
                               int64_t b, T* out) {
  const int64_t D = p.D, H = p.H;
  if (pos < 0 || pos >= p.length(b)) return (void)std::fill_n(out, D + H + 1, T(0));
  const int64_t row = p.row(pos, b), prev = p.previous_position(pos, b);
  copy_values(x + row * D, D, out);
  copy_values(prev < 0 ? initial + b * H : states + p.row(prev, b) * H, H, out + D);
  out[D + H] = T(1);
}

// The weight and input gradients of a backward whose time loop is split by rows, made inside the
// loop: every few steps each thread multiplies the dz of its rows for those steps, still in its
// L2, into its own partial [dkernel; drecurrent_kernel; dbias] and into dx. The alternative (the
// units split's) writes dz for all steps out, gathers [x | h_{t-1} | 1] for all positions, and
// reads both back after the loop, from memory once they outgrow the caches.
template <typename T>
class ChunkedGradients {
 public:
  // states: forward's outputs (h per position); initial: h0; dx may be null (not wanted).
  ChunkedGradients(const RnnProblem& p, int G, int threads, const T* x, const T* states, const T* initial,
                   const T* kernel, T* dx)
      : p_(p), N_(G * p.H), K_(p.D + p.H + 1), x_(x), states_(states), initial_(initial), kernel_(kernel), dx_(dx),
        stream_dx_(outgrows_caches<T>(p.T * p.B * p.D)), partials_(threads * K_ * N_, T(0)), buffers_(threads) {
    if (dx && narrow_input<T>(p) && p.D > 0) pack_kernel_transposed(p, G, kernel, kernel_t_);
  }

  // Whether a backward split this way makes its weight gradients in chunks: by rows, and with
  // each thread's partial [dkernel; drecurrent_kernel; dbias] small enough (<= 512 KB) to stay in
  // its L2 beside the chunk and be added to at every chunk. SimpleRNN (100, 64, 512, 512), 2 MB of
  // partial and chunks of one step, measured 0.88x in chunks.
  static bool suits(const RnnProblem& p, int G, const LoopSplit& split) {
    return !split.by_units && (p.D + p.H + 1) * G * p.H * static_cast<int64_t>(sizeof(T)) <= (int64_t(512) << 10);
  }

  // Steps per chunk for a thread with `rows` rows: their dz, [x | h_{t-1} | 1] and dx in ~512 KB
  // (256 KB - 1 MB measured within 3% of each other; 3 MB, past the L2, 5-10% slower).
  int64_t steps_per_chunk(int64_t rows) const {
    const int64_t row_bytes = (padded<T>(N_) + K_ + p_.D) * static_cast<int64_t>(sizeof(T));
    const int64_t steps = (int64_t(512) << 10) / std::max<int64_t>(1, rows * row_bytes);
    return std::clamp<int64_t>(steps, 1, std::max<int64_t>(p_.T, 1));
  }

  // Thread t, rows [r0, r1), steps [s0, s1): dz (row stride ldz) holds row r0's steps in order,
  // then row r0 + 1's, ..., so that the positions they gather from and scatter to follow each
  // other in (B, T, *) arrays (for full sequences in order).
  void add(int t, int64_t s0, int64_t s1, int64_t r0, int64_t r1, const T* dz, int64_t ldz) {
    const int64_t steps = s1 - s0, n = steps * (r1 - r0), D = p_.D, K = K_;
    Buffers& buf = buffers_[t];
    buf.inputs.resize(strip_layout_size(n, K));
    constexpr int64_t kBlock = 16;  // rows gathered, then dealt out to the strips
    const int64_t ldr = K + kTileRows;
    buf.rows.resize(kBlock * ldr);
    buf.destination.resize(n);
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t i1 = std::min(n, i0 + kBlock);
      for (int64_t i = i0; i < i1; ++i) {  // i = row r0 + i / steps at step s0 + i % steps
        const int64_t b = r0 + i / steps, s = s0 + i % steps, pos = p_.position(s, b);
        gradient_input_row(p_, x_, states_, initial_, pos, b, buf.rows.data() + (i - i0) * ldr);
        buf.destination[i] = pos < 0 ? p_.row(s, b) : p_.row(pos, b);  // ended: this padding position's dx is zero
      }
      for (int64_t k = 0; k < K; k += kTileRows)
        for (int64_t i = i0; i < i1; ++i)
          std::memcpy(buf.inputs.data() + strip_layout_offset(n, i, k), buf.rows.data() + (i - i0) * ldr + k,
                      kTileRows * sizeof(T));
    }
    transposed_product(n, K, N_, buf.inputs.data(), dz, ldz, partials_.data() + t * K * N_, N_, true);
    if (!dx_ || D == 0) return;
    auto destination = [&](int64_t i) { return buf.destination[i]; };
    if (kernel_t_.data) return narrow_product(n, D, dz, ldz, kernel_t_, dx_, destination, stream_dx_);
    buf.dx.resize(n * D);
    gemm<T>(false, true, n, D, N_, T(1), dz, ldz, kernel_, N_, T(0), buf.dx.data(), D);
    const T* rows_dx = buf.dx.data();
    for (int64_t i = 0; i < n; ++i) copy_row(rows_dx + i * D, D, dx_ + destination(i) * D, stream_dx_);
  }

  // [dkernel; drecurrent_kernel; dbias] = the threads' partials, added in thread order.
  void finish(T* dkernel, T* drecurrent_kernel, T* dbias) const {
    const int64_t D = p_.D, H = p_.H, threads = static_cast<int64_t>(buffers_.size());
    for (int64_t k = 0; k < K_; ++k) {
      T* dst = k < D ? dkernel + k * N_ : k < D + H ? drecurrent_kernel + (k - D) * N_ : dbias;
      std::copy(partials_.data() + k * N_, partials_.data() + (k + 1) * N_, dst);
      for (int64_t t = 1; t < threads; ++t) {
        const T* src = partials_.data() + (t * K_ + k) * N_;
        for (int64_t j = 0; j < N_; ++j) dst[j] += src[j];
      }
    }
  }

 private:
  struct Buffers {  // one thread's, reused chunk after chunk
    std::vector<T> inputs, rows, dx;  // inputs in strip_layout
    std::vector<int64_t> destination;
  };
  const RnnProblem& p_;
  const int64_t N_, K_;
  const T *x_, *states_, *initial_, *kernel_;
  T* dx_;
  const bool stream_dx_;
  std::vector<T> partials_;  // (threads, K, N)
  std::vector<Buffers> buffers_;
  PackedPanels<T> kernel_t_;  // kernel^T for narrow x
};

// The backward time loop shared by the cells, steps last to first. packed holds
// recurrent_kernel^T (G*H, H) in panels of NV vectors of units (pack_units). dh (B, H) is the
// running carry: d_h at the start, then the gradient flowing into h_{t-1}. At step s, for each
// row b and the thread's units [u0, u1), prefetch_next(pos, b', u0, u1) first asks for what the
// cell reads a few rows later (at the next step's first rows near the end), then cell(s, b, u0, u1,
// d) turns the carry into row b of the step's dz (d, G*H wide), keeping what else it needs;
// then dh = dz_t @ recurrent_kernel^T for the running rows. With chunked (rows split only), each
// thread keeps its dz for a chunk of steps and hands it to chunked->add when the chunk is done.
// (The input gradient is not fused into the step like forward's input product: its few columns
// cost a whole extra panel per step and measured slower.)
template <typename T, int NV, typename Cell, typename Prefetch>
void backward_through_time(const RnnProblem& p, int G, const PackedPanels<T>& packed, const LoopSplit& split, T* dh,
                           Cell cell, Prefetch prefetch_next, ChunkedGradients<T>* chunked) {
  const int64_t B = p.B, H = p.H, ldz = padded<T>(G * H);
  constexpr int U = NV * lanes<T>();
  std::vector<T> dz_step(chunked ? 0 : 2 * B * ldz);  // this step's dz, two buffers alternating
  Barrier barrier(split.threads);
  SoloSwitch solo;
  auto loop = [&](int t, int) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
    int64_t u0 = std::min(H, q0 * U), u1 = std::min(H, q1 * U);
    std::vector<T> tile((r1 - r0) * U);  // the panel's product for this thread's rows
    T* z = tile.data();
    // with chunked: this thread's dz for the steps [chunk_begin, chunk_end) of the current chunk,
    // row by row and each row's steps in order (as they lie in (B, T, *) arrays)
    const int64_t chunk_steps = chunked ? chunked->steps_per_chunk(r1 - r0) : 0;
    std::vector<T> chunk(chunk_steps * (r1 - r0) * ldz);
    int64_t chunk_end = p.T, chunk_begin = std::max<int64_t>(0, p.T - chunk_steps);
    bool was_alone = false;
    for (int64_t s = p.T - 1; s >= 0; --s) {
      const bool alone = split.by_units && solo.active(p.T - 1 - s);
      if (alone) {  // thread 0 runs the remaining steps by itself (SoloSwitch)
        if (!was_alone) barrier.wait();  // once: everyone's dh_{t} product is done
        was_alone = true;
        if (t != 0) return;
        q0 = 0, q1 = packed.panels, u0 = 0, u1 = H;
      }
      // row b of this step's dz at d + (b - r0) * ldd
      T* d = chunked ? chunk.data() + (s - chunk_begin) * ldz : dz_step.data() + ((s % 2) * B + r0) * ldz;
      const int64_t ldd = chunked ? (chunk_end - chunk_begin) * ldz : ldz;
      // rows ahead: about 32 vectors of cell work, which outlasts a memory access
      const int64_t rows_ahead = std::clamp<int64_t>(32 * lanes<T>() / std::max<int64_t>(u1 - u0, 1), 4, 16);
      for (int64_t b = r0; b < r1 && u1 > u0; ++b) {
        const bool same_step = b + rows_ahead < r1;
        const int64_t s_ahead = same_step ? s : s - 1;
        const int64_t b_ahead = same_step ? b + rows_ahead : b + rows_ahead - (r1 - r0);
        const int64_t pos = s_ahead >= 0 && b_ahead < r1 ? p.position(s_ahead, b_ahead) : -1;
        if (pos >= 0) prefetch_next(pos, b_ahead, u0, u1);
        cell(s, b, u0, u1, d + (b - r0) * ldd);
      }
      if (split.by_units && !alone && barrier.wait() && s < p.T - 1) solo.request(p.T - 1 - s + 2);  // dz_t first
      // gradient into h_{t-1}: dz_t @ recurrent_kernel^T, kept for running sequences only
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t v0 = q * U, w = std::min<int64_t>(U, H - v0);
        panel_product<T, NV>(r1 - r0, d, ldd, G * H, packed.panel(q), z);
        for (int64_t b = r0; b < r1; ++b)
          if (p.position(s, b) >= 0) copy_values(z + (b - r0) * U, w, dh + b * H + v0);
      }
      if (chunked && s == chunk_begin) {
        chunked->add(t, chunk_begin, chunk_end, r0, r1, chunk.data(), ldz);
        chunk_end = s, chunk_begin = std::max<int64_t>(0, s - chunk_steps);
      }
    }
  };
  parallel_for_threads(split.threads, loop);
}

// Whether the weight gradients after the loop come from fastrnn's own kernel (transposed_product)
// rather than OpenBLAS: for sums over few positions (a batch of one), whose dz rows for a tile's
// columns stay in L1 (32 KB) while every tile of the result is made. OpenBLAS zeroes the large
// result, then reads and writes it back, which for short sums costs more than the products.
// Measured (with the gradients written in place): LSTM (100, 1, 256, 256) backward 1.04-1.06x;
// within 2% at 200-300 positions; 0.8x at 500 (the dz columns re-read from L2 for every tile).
template <typename T>
inline bool few_positions(const RnnProblem& p) {
  return p.T * p.B * 4 * kVectorBytes <= 32 * 1024;
}

// Scratch of one backward call: dz (T*B, G*H), the gradient at the pre-activations per position;
// inputs (T*B, D + H + 1) = [x | h_{t-1} | 1] per position (gather_gradient_inputs), in strip_layout
// for the own kernel (few_positions).
template <typename T>
struct BackwardScratch {
  Scratch memory;
  T *dz, *inputs;
  BackwardScratch(const RnnProblem& p, int G)
      : memory((p.T * p.B * G * p.H + strip_layout_size(p.T * p.B, p.D + p.H + 1)) * sizeof(T)) {
    dz = memory.as<T>();
    inputs = dz + p.T * p.B * G * p.H;
  }
};

// inputs (T*B, D + H + 1): gradient_input_row for every position, by rows or in strip_layout.
template <typename T>
inline void gather_gradient_inputs(const RnnProblem& p, const T* x, const T* states, const T* initial, T* inputs,
                                   bool strips) {
  const int64_t K = p.D + p.H + 1, rows = p.T * p.B;
  auto job = [&](int t, int n) {
    std::vector<T> row_values(strips ? K : 0);  // a row, dealt out to the strips
    for (int64_t i = rows * t / n; i < rows * (t + 1) / n; ++i) {  // sequence b, position pos
      const int64_t b = i / std::max<int64_t>(p.T, 1), pos = i % std::max<int64_t>(p.T, 1), row = p.row(pos, b);
      if (!strips) {
        gradient_input_row(p, x, states, initial, pos, b, inputs + row * K);
        continue;
      }
      gradient_input_row(p, x, states, initial, pos, b, row_values.data());
      for (int64_t k = 0; k < K; ++k) inputs[strip_layout_offset(rows, row, k)] = row_values[k];
    }
  };
  parallel_for_threads(static_cast<int>(std::min<int64_t>(pool_threads(), std::max<int64_t>(rows, 1))), job);
}

// dx (T*B, D) = dz (T*B, G*H) @ kernel^T for narrow x, each thread a share of the rows.
template <typename T>
inline void narrow_input_gradient(const RnnProblem& p, int G, const T* kernel, const T* dz, T* dx) {
  const int64_t rows = p.T * p.B, N = G * p.H, D = p.D;
  if (N == 0) {  // a sum over nothing
    std::fill_n(dx, rows * D, T(0));
    return;
  }
  if (rows == 0 || D == 0) return;
  PackedPanels<T> kernel_t;
  pack_kernel_transposed(p, G, kernel, kernel_t);
  auto job = [&](int t, int n) {
    const int64_t r0 = rows * t / n;
    narrow_product(rows * (t + 1) / n - r0, D, dz + r0 * N, N, kernel_t, dx, [&](int64_t i) { return r0 + i; },
                   outgrows_caches<T>(rows * D));
  };
  parallel_for_threads(pool_threads(), job);
}

// The products after the backward time loop, over all steps at once, with dz (T*B, G*H):
//   dx = dz @ kernel^T (unless dx is null: not asked for);
//   dw = [dkernel; drecurrent_kernel; dbias] (D + H + 1, G*H) = inputs^T @ dz, each thread a block
//   of columns with the own kernel (inputs in strips), else OpenBLAS.
template <typename T>
inline void weight_gradients(const RnnProblem& p, int G, const T* kernel, const BackwardScratch<T>& scratch, T* dx,
                             T* dw, bool strips) {
  const int64_t rows = p.T * p.B, N = G * p.H, K = p.D + p.H + 1;
  if (dx && narrow_input<T>(p)) narrow_input_gradient(p, G, kernel, scratch.dz, dx);
  else if (dx) parallel_gemm<T>(false, true, rows, p.D, N, T(1), scratch.dz, N, kernel, N, T(0), dx, p.D);
  if (!strips) return parallel_gemm<T>(true, false, K, N, rows, T(1), scratch.inputs, K, scratch.dz, N, T(0), dw, N);
  constexpr int64_t W = 4 * lanes<T>();  // the tile's columns
  const int64_t blocks = (N + W - 1) / W;
  auto job = [&](int t, int n) {
    const int64_t j0 = std::min(N, blocks * t / n * W), j1 = std::min(N, blocks * (t + 1) / n * W);
    if (j1 > j0) transposed_product(rows, K, j1 - j0, scratch.inputs, scratch.dz + j0, N, dw + j0, N, false);
  };
  parallel_for_threads(static_cast<int>(std::min<int64_t>(pool_threads(), blocks)), job);
}

// How one backward call makes its weight gradients and dx: inside the time loop, a chunk of
// steps at a time, where ChunkedGradients suits the loop's split, else after it from dz and
// [x | h_{t-1} | 1] for all positions (BackwardScratch; also for empty problems, split null).
// The cells keep each position's dz in dz_cache() unless that is null.
template <typename T>
class WeightGradients {
 public:
  WeightGradients(const RnnProblem& p, int G, const LoopSplit* split, const T* x, const T* outputs, const T* h0,
                  const T* kernel, T* dx)
      : p_(p), G_(G), x_(x), outputs_(outputs), h0_(h0), kernel_(kernel), dx_(dx) {
    if (split && ChunkedGradients<T>::suits(p, G, *split))
      chunked_.emplace(p, G, split->threads, x, outputs, h0, kernel, dx);
    else
      scratch_.emplace(p, G);
  }
  T* dz_cache() const { return scratch_ ? scratch_->dz : nullptr; }
  ChunkedGradients<T>* chunked() { return chunked_ ? &*chunked_ : nullptr; }

  // After the time loop: the chunks' partials added up, or the products over all positions,
  // written in place when the three gradients are one (D + H + 1, G*H) block (as the bindings
  // allocate them), else copied out of scratch.
  void finish(T* dkernel, T* drecurrent_kernel, T* dbias) {
    if (chunked_) return chunked_->finish(dkernel, drecurrent_kernel, dbias);
    const int64_t D = p_.D, H = p_.H, N = G_ * H, K = D + H + 1;
    const bool stacked = drecurrent_kernel == dkernel + D * N && dbias == drecurrent_kernel + H * N;
    Scratch separate(stacked ? 0 : K * N * sizeof(T));
    T* dw = stacked ? dkernel : separate.as<T>();
    const bool strips = few_positions<T>(p_);
    gather_gradient_inputs(p_, x_, outputs_, h0_, scratch_->inputs, strips);
    weight_gradients(p_, G_, kernel_, *scratch_, dx_, dw, strips);
    if (stacked) return;
    std::copy(dw, dw + D * N, dkernel);
    std::copy(dw + D * N, dw + (D + H) * N, drecurrent_kernel);
    std::copy(dw + (D + H) * N, dw + K * N, dbias);
  }

 private:
  const RnnProblem& p_;
  const int G_;
  const T *x_, *outputs_, *h0_, *kernel_;
  T* dx_;
  std::optional<ChunkedGradients<T>> chunked_;
  std::optional<BackwardScratch<T>> scratch_;
};

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
