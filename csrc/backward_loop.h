// backward_loop.h: backward's time loop, shared by the cells (simple_rnn.cpp, lstm.cpp): steps
// last to first, each thread's cells turning the carried gradient into dz, then dz @
// recurrent_kernel^T into the gradient flowing back to h_{t-1}.
#pragma once
#include <algorithm>
#include <vector>

#include "recurrence.h"
#include "weight_gradients.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// The backward time loop shared by the cells, steps last to first. packed holds
// recurrent_kernel^T (G*H, H) in panels of NV vectors of units (pack_units). dh (B, H) is the
// running carry: d_h at the start, then the gradient flowing into h_{t-1}. At step s, for each
// row b and the thread's units [u0, u1), prefetch_next(pos, b', u0, u1) first asks for what the
// cell reads a few rows later (at the next step's first rows near the end), then cell(s, b, u0, u1,
// d) turns the carry into row b of the step's dz (d, G*H wide), keeping what else it needs;
// then dh = dz_t @ recurrent_kernel^T for the running rows. With chunked (rows split only), each
// thread keeps its dz for a chunk of steps and hands it to chunked->add when the chunk is done.
// (The input gradient is not fused into the step like forward's input product: its few columns
// would cost a whole extra panel per step.)
// What the step's product reads, and what it adds to: dh_{t-1} = (the columns [offset, offset +
// width) of dz_t) @ recurrent_kernel^T (+ direct, (B, H), when the cell writes a gradient that
// reaches h_{t-1} by another path: the GRU's z * h_{t-1}). Width 0: all G*H columns.
template <typename T>
struct StepProduct {
  int64_t offset = 0, width = 0;
  const T* direct = nullptr;
};

template <typename T, int NV, typename Cell, typename Prefetch>
void backward_through_time(const RnnProblem& p, int G, const PackedPanels<T>& packed, const LoopSplit& split, T* dh,
                           Cell cell, Prefetch prefetch_next, ChunkedGradients<T>* chunked,
                           StepProduct<T> product = {}) {
  if (product.width == 0) product.width = G * p.H;
  const int64_t B = p.B, H = p.H, ldz = padded<T>(G * H);
  constexpr int U = NV * lanes<T>();
  // this step's dz, two buffers alternating (aligned per-step buffers: forward_through_time)
  Scratch dz_steps(chunked ? 0 : 2 * B * ldz * static_cast<int64_t>(sizeof(T)));
  T* const dz_step = dz_steps.as<T>();
  Barrier barrier(split.threads);
  StepSwitch solo, stop;
  auto loop = [&](int t, int) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
    int64_t u0 = std::min(H, q0 * U), u1 = std::min(H, q1 * U);
    // with chunked: this thread's dz for the steps [chunk_begin, chunk_end) of the current chunk,
    // row by row and each row's steps in order (as they lie in (B, T, *) arrays)
    const int64_t chunk_steps = chunked ? chunked->steps_per_chunk(r1 - r0) : 0;
    Scratch chunk_memory(chunk_steps * (r1 - r0) * ldz * static_cast<int64_t>(sizeof(T)));  // in this thread's arena
    T* const chunk = chunk_memory.as<T>();
    Scratch tile((r1 - r0) * U * static_cast<int64_t>(sizeof(T)));  // the panel's product for this thread's rows
    T* const z = tile.as<T>();
    int64_t chunk_end = p.T, chunk_begin = std::max<int64_t>(0, p.T - chunk_steps);
    bool was_alone = false;
    for (int64_t s = p.T - 1; s >= 0; --s) {
      if (stop.active(p.T - 1 - s)) return;
      if (t == 0 && interrupt_requested()) stop.request(p.T - 1 - s + 1);
      const bool alone = split.by_units && solo.active(p.T - 1 - s);
      if (alone) {  // thread 0 runs the remaining steps by itself (StepSwitch)
        if (!was_alone) barrier.wait();  // once: everyone's dh_{t} product is done
        was_alone = true;
        if (t != 0) return;
        q0 = 0, q1 = packed.panels, u0 = 0, u1 = H;
      }
      // row b of this step's dz at d + (b - r0) * ldd
      T* d = chunked ? chunk + (s - chunk_begin) * ldz : dz_step + ((s % 2) * B + r0) * ldz;
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
        panel_product<T, NV>(r1 - r0, d + product.offset, ldd, product.width, packed.panel(q), z);
        for (int64_t b = r0; b < r1; ++b) {
          if (p.position(s, b) < 0) continue;
          copy_values(z + (b - r0) * U, w, dh + b * H + v0);
          if (product.direct)
            for (int64_t j = 0; j < w; ++j) dh[b * H + v0 + j] += product.direct[b * H + v0 + j];
        }
      }
      if (chunked && s == chunk_begin) {
        chunked->add(t, chunk_begin, chunk_end, r0, r1, chunk, ldz);
        chunk_end = s, chunk_begin = std::max<int64_t>(0, s - chunk_steps);
      }
    }
  };
  parallel_for_threads(split.threads, loop);
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
