// weight_gradients.h: backward's products over positions, shared by the cells: the input gradient
// dx = dz @ kernel^T and the weight gradients [dkernel; drecurrent_kernel; dbias] = [x | h_{t-1} |
// 1]^T @ dz, made inside the time loop a chunk of steps at a time (ChunkedGradients) or after it
// over all positions at once (WeightGradients decides which).
#pragma once
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "blas.h"
#include "recurrence.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// dx (T*B, D) = dz (T*B, G*H) @ kernel^T for narrow x (D <= 4 vectors: one panel of packed
// kernel^T) comes from fastrnn's own kernel: OpenBLAS reaches only ~80 GFLOP/s per core on these
// few columns.
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
// streamed from memory after the loop, into short strided pieces.
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
// a position the sequence does not consume (pos < 0, or padding), whose dz is zero.
template <typename T>
inline void gradient_input_row(const RnnProblem& p, const T* x, const T* states, const T* initial, int64_t pos,
                               int64_t b, T* out) {
  const int64_t D = p.D, H = p.H;
  if (pos < 0 || !p.consumed(pos, b)) return (void)std::fill_n(out, D + H + 1, T(0));
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
  // its L2 beside the chunk and be added to at every chunk (larger partials leave chunks of one
  // step, slower than the products after the loop).
  static bool suits(const RnnProblem& p, int G, const LoopSplit& split) {
    return !split.by_units && (p.D + p.H + 1) * G * p.H * static_cast<int64_t>(sizeof(T)) <= (int64_t(512) << 10);
  }

  // Steps per chunk for a thread with `rows` rows: their dz, [x | h_{t-1} | 1] and dx in ~512 KB
  // (a chunk that outgrows the L2 is slower; anything from 256 KB to 1 MB does as well).
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
        buf.destination[i] = p_.row(pos < 0 ? p_.padding_position(s, b) : pos, b);  // padding: its dx is zero
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

// Whether the weight gradients after the loop come from fastrnn's own kernel (transposed_product)
// rather than OpenBLAS: for sums over few positions (a batch of one), whose dz rows for a tile's
// columns stay in L1 (32 KB) while every tile of the result is made. OpenBLAS zeroes the large
// result, then reads and writes it back, which for short sums costs more than the products.
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
  const int threads = threads_for(copy_micros(static_cast<double>(rows) * K * sizeof(T)));
  parallel_for_threads(static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(rows, 1))), job);
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
  parallel_for_threads(threads_for(product_micros(2.0 * rows * N * D)), job);
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
  const int threads = threads_for(product_micros(2.0 * rows * K * N));
  parallel_for_threads(static_cast<int>(std::min<int64_t>(threads, blocks)), job);
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
