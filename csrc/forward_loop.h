// forward_loop.h: forward's time loop, shared by the cells (simple_rnn.cpp, lstm.cpp): where the
// input product x_t @ kernel is made, how the outputs are written, and the loop that multiplies
// each thread's rows by its panels at every step and hands each tile to the cell's fused update.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "blas.h"
#include "recurrence.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// projection (T*B, G*H) = x (T*B, D) @ kernel (D, G*H), rows in x's layout. Bias is added later,
// in the fused step, so this is one plain product.
template <typename T>
inline void input_projection(const RnnProblem& p, int G, const T* x, const T* kernel, T* projection) {
  parallel_gemm<T>(false, false, p.T * p.B, G * p.H, p.D, T(1), x, p.D, kernel, G * p.H, T(0), projection,
                   G * p.H);
}

// Where forward makes the input product x_t @ kernel:
//   blas: one OpenBLAS product for all steps before the loop, which the cells add in;
//   fused: in each step, which multiplies [x_t | h_{t-1}] by [kernel; recurrent_kernel] instead of
//     h_{t-1} alone: the same flops, without writing and re-reading the (T*B, G*H) projection,
//     at the cost of streaming the stacked weights every step; it pays when they fit the cores'
//     L2s, or x is narrow beside h (D <= H/4), or enough rows share each weight line (B >= 48);
//   packed: before the loop, from the kernel packed into the recurrent weights' panels, each
//     thread for its own panels and rows, into its own L2 (the sums of fused, in fused's order):
//     for batches too small for fused whose weights fit the L2s, where OpenBLAS is slow on few rows.
// (The thresholds: bench/ab.py runs recorded in git history.)
// tuning.h's input_product forces one.
enum class InputProduct { blas, fused, packed };

template <typename T>
inline InputProduct input_product(const RnnProblem& p, int G) {
  switch (static_cast<InputProductChoice>(tuning().input_product.load())) {
    case InputProductChoice::Blas: return InputProduct::blas;
    case InputProductChoice::Fused: return InputProduct::fused;
    case InputProductChoice::Packed: return InputProduct::packed;
    case InputProductChoice::Automatic: break;
  }
  const int64_t stacked_bytes = (p.D + p.H) * G * p.H * static_cast<int64_t>(sizeof(T));
  const bool fit = stacked_bytes <= pool_threads() * (int64_t(1) << 20);
  if (p.B >= 2 * kTileRows && (4 * p.D <= p.H || fit || p.B >= 48)) return InputProduct::fused;
  return fit ? InputProduct::packed : InputProduct::blas;
}

// How a forward writes its outputs and, in training, the copy of them that backward reads (the
// caller may modify the outputs). Outputs that outgrow the caches are streamed, and the step
// writes the copy beside them the same way (copying after the loop would read them back from
// memory). Smaller ones stay cached for the next layer, and are copied after the loop by every
// thread, whose share is mostly still in its L2.
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
    parallel_for_threads(threads_for(copy_micros(n_ * static_cast<double>(sizeof(T)))), job);
  }

 private:
  T* const saved_;
  const int64_t n_;
};

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
  // rows [x_t | h_{t-1}] and [x_{t+1} | h_t], swapped every step. The per-step buffers of both
  // loops come from the arenas, 64-byte aligned: no vector of a tile straddles two cache lines,
  // and no line of a row holds units of both threads.
  Scratch state_rows(2 * B * ldh * static_cast<int64_t>(sizeof(T)));
  T* const states = state_rows.as<T>();
  for (int64_t b = 0; b < B; ++b) std::copy(h0 + b * H, h0 + (b + 1) * H, states + b * ldh + D);
  auto load_inputs = [&](int64_t s, T* rows, int64_t b0, int64_t b1) {  // x at step s, rows [b0, b1)
    for (int64_t b = b0; b < b1 && D > 0; ++b) {
      const int64_t pos = p.position(s, b), next = s + 1 < p.T ? p.position(s + 1, b) : -1;
      if (next >= 0) prefetch<2>(x_fused + p.row(next, b) * D, D);  // copied a step later
      if (pos >= 0) copy_values(x_fused + p.row(pos, b) * D, D, rows + b * ldh);
    }
  };
  load_inputs(0, states, 0, B);
  Barrier barrier(split.threads);
  StepSwitch solo, stop;
  auto loop = [&](int t, int n) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
    Scratch tile((r1 - r0) * W * static_cast<int64_t>(sizeof(T)));  // the panel's product for this thread's rows
    T* const z = tile.as<T>();
    for (int64_t q = q0; q < q1 && packed_x; ++q)  // rows of sequence b lie row(1, b) - row(0, b) apart
      for (int64_t b = r0; b < r1; ++b) {
        const int64_t first = p.first_consumed(b);
        panel_product<T, NV>(p.consumed_count(b), x + p.row(first, b) * p.D, (p.row(1, b) - p.row(0, b)) * p.D,
                             p.D, kernel_panels.panel(q), x_part(q, b, first));
      }
    for (int64_t s = 0; s < p.T; ++s) {
      if (stop.active(s)) return;
      if (t == 0 && interrupt_requested()) stop.request(s + 1);
      const bool alone = split.by_units && solo.active(s);
      if (alone) {  // thread 0 runs the remaining steps by itself (StepSwitch)
        if (t != 0) return;
        q0 = 0, q1 = packed.panels;
      }
      const T* h_prev = states + (s % 2) * B * ldh;
      T* h_next = states + ((s + 1) % 2) * B * ldh;
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
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  const T* h_last = states + (p.T % 2) * B * ldh + D;
  for (int64_t b = 0; b < B; ++b) std::copy(h_last + b * ldh, h_last + b * ldh + H, h_T + b * H);
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
