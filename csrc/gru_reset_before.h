// gru_reset_before.h: the GRU's time loops when the reset gate multiplies h_{t-1} before the h
// gate's product (reset_after=False): each step makes two products, h_{t-1} @ recurrent_kernel's
// z and r columns, then (r * h_{t-1}) @ its h columns, which needs r for every unit first. The
// threads split the batch rows (each owns all units of its rows, so no thread waits for another
// between the products). Included by gru.cpp only.
#pragma once
#include <algorithm>
#include <cstring>

#include "activations.h"
#include "forward_loop.h"
#include "gru.h"
#include "gru_gradients.h"

namespace fastrnn {
namespace FASTRNN_ISA {

// recurrent_kernel's z and r columns in panels of two gate vectors of `lanes` units, its h columns
// in panels of one; the loop split by rows.
template <typename T>
LoopSplit pack_reset_before(const RnnProblem& p, const T* recurrent_kernel, PackedPanels<T>& zr, PackedPanels<T>& h) {
  constexpr int L = lanes<T>();
  const int64_t H = p.H, panels = (H + L - 1) / L;
  const StackedWeights<T> weights{nullptr, recurrent_kernel, 0, 3 * H};
  LoopSplit split = pack_recurrent(
      p, H, panels, 2, [&](int64_t q, int c) { const int64_t u = q * L + c % L; return u < H ? (c / L) * H + u : -1; },
      weights, zr);
  pack_recurrent(p, H, panels, 1, [&](int64_t q, int c) { const int64_t u = q * L + c; return u < H ? 2 * H + u : -1; },
                 weights, h);
  split.by_units = false;
  split.threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(split.threads, p.B)));
  return split;
}

template <typename T>
void gru_forward_reset_before(const RnnProblem& p, const GruForward<T>& a, const T* projection) {
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  const int64_t B = p.B, H = p.H, N = 3 * H;
  PackedPanels<T> zr, hc;
  const LoopSplit split = pack_reset_before(p, a.recurrent_kernel, zr, hc);
  const OutputWrites<T> outputs(p, a.saved_outputs);
  Scratch state_memory(4 * B * H * static_cast<int64_t>(sizeof(T)));
  T* const states = state_memory.as<T>();  // h_{t-1} and h_t, swapped every step; z; r * h_{t-1}
  T *const update = states + 2 * B * H, *const reset_h = states + 3 * B * H;
  std::copy(a.h0, a.h0 + B * H, states);
  StepSwitch stop;
  auto loop = [&](int t, int) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    Scratch tile_memory((r1 - r0) * 2 * L * static_cast<int64_t>(sizeof(T)));
    T* const tile = tile_memory.as<T>();
    for (int64_t s = 0; s < p.T; ++s) {
      if (stop.active(s)) return;
      if (t == 0 && interrupt_requested()) stop.request(s + 1);
      const T* h_prev = states + (s % 2) * B * H;
      T* h_next = states + ((s + 1) % 2) * B * H;
      for (int64_t q = 0; q < zr.panels; ++q) {  // z, r and r * h_{t-1} for units [q*L, q*L + L)
        const int64_t u0 = q * L, w = std::min<int64_t>(L, H - u0);
        panel_product<T, 2>(r1 - r0, h_prev + r0 * H, H, H, zr.panel(q), tile);
        for (int64_t b = r0; b < r1; ++b) {
          const int64_t pos = p.position(s, b);
          if (pos < 0) {
            std::fill_n(reset_h + b * H + u0, w, T(0));
            continue;
          }
          const T* xw = projection + p.row(pos, b) * N + u0;
          V zv, rv;
          std::memcpy(&zv, tile + (b - r0) * 2 * L, sizeof(V));
          std::memcpy(&rv, tile + (b - r0) * 2 * L + L, sizeof(V));
          zv = activate_vector<T>(zv + load_lanes(xw, w) + load_lanes(a.bias + u0, w), p.recurrent_activation);
          rv = activate_vector<T>(rv + load_lanes(xw + H, w) + load_lanes(a.bias + H + u0, w), p.recurrent_activation);
          const V rh = rv * load_lanes(h_prev + b * H + u0, w);
          store_lanes(update + b * H + u0, zv, w);
          store_lanes(reset_h + b * H + u0, rh, w);
          if (a.gates) {
            T* cached = a.gates + p.cache_row(pos, b) * 4 * H + u0;
            store_lanes(cached, zv, w);
            store_lanes(cached + H, rv, w);
            store_lanes(cached + 3 * H, rh, w);
          }
        }
      }
      for (int64_t q = 0; q < hc.panels; ++q) {  // hh and h_t for units [q*L, q*L + L)
        const int64_t u0 = q * L, w = std::min<int64_t>(L, H - u0);
        panel_product<T, 1>(r1 - r0, reset_h + r0 * H, H, H, hc.panel(q), tile);
        for (int64_t b = r0; b < r1; ++b) {
          const int64_t pos = p.position(s, b);
          if (pos < 0) {  // sequence ended: the state carries over, the output is zero
            std::copy_n(h_prev + b * H + u0, w, h_next + b * H + u0);
            const int64_t padding = p.row(p.padding_position(s, b), b);
            std::fill_n(a.outputs + padding * H + u0, w, T(0));
            if (outputs.saved_beside) std::fill_n(outputs.saved_beside + padding * H + u0, w, T(0));
            continue;
          }
          const int64_t row = p.row(pos, b);
          V part;
          std::memcpy(&part, tile + (b - r0) * L, sizeof(V));
          const V candidate = activate_vector<T>(
              part + load_lanes(projection + row * N + 2 * H + u0, w) + load_lanes(a.bias + 2 * H + u0, w),
              p.activation);
          const V zv = load_lanes(update + b * H + u0, w);
          const V h = zv * load_lanes(h_prev + b * H + u0, w) + (T(1) - zv) * candidate;
          store_lanes(h_next + b * H + u0, h, w);
          if (outputs.stream) stream_lanes(a.outputs + row * H + u0, h, w);
          else store_lanes(a.outputs + row * H + u0, h, w);
          if (outputs.saved_beside) stream_lanes(outputs.saved_beside + row * H + u0, h, w);
          if (a.gates) store_lanes(a.gates + (p.cache_row(pos, b) * 4 + 2) * H + u0, candidate, w);
        }
      }
    }
  };
  parallel_for_threads(split.threads, loop);
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  std::copy(states + (p.T % 2) * B * H, states + (p.T % 2 + 1) * B * H, a.h_T);
  outputs.finish(a.outputs);
}

template <typename T>
void gru_backward_reset_before(const RnnProblem& p, const GruBackward<T>& a, GruGradients<T>& gradients) {
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  const int64_t B = p.B, H = p.H;
  // recurrent_kernel^T: its h columns' (for the gradient into r * h_{t-1}), and its z and r columns'
  PackedPanels<T> h_t, zr_t;
  const LoopSplit split = pack_units(p, H, H, Transposed<T>{a.recurrent_kernel + 2 * H, 3 * H}, h_t);
  pack_units(p, 2 * H, H, Transposed<T>{a.recurrent_kernel, 3 * H}, zr_t);
  const int64_t U = h_t.width, threads = std::max<int64_t>(1, std::min<int64_t>(split.threads, B));
  Scratch direct_memory(B * H * static_cast<int64_t>(sizeof(T)));
  T* const direct = direct_memory.as<T>();  // the carry's direct part, z * dh, then + r * d(r * h_{t-1})
  StepSwitch stop;
  auto loop = [&](int t, int n) {
    const int64_t r0 = B * t / n, r1 = B * (t + 1) / n, ld = padded<T>(4 * H);
    Scratch memory((r1 - r0) * (U + ld) * static_cast<int64_t>(sizeof(T)));
    T* const d = memory.as<T>();  // this step's dz for the thread's rows, then the panel's product
    T* const tile = d + (r1 - r0) * ld;
    for (int64_t s = p.T - 1; s >= 0; --s) {
      if (stop.active(p.T - 1 - s)) return;
      if (t == 0 && interrupt_requested()) stop.request(p.T - s);
      for (int64_t b = r0; b < r1; ++b) {  // dah, dz and the direct carry z * dh
        const int64_t pos = p.position(s, b);
        T* row_d = d + (b - r0) * ld;
        std::fill_n(row_d, 4 * H, T(0));
        if (pos < 0) continue;
        const int64_t row = p.row(pos, b), prev = p.previous_position(pos, b);
        const T* gates = a.gates + p.cache_row(pos, b) * 4 * H;
        const T* h_prev = prev < 0 ? a.h0 + b * H : a.outputs + p.row(prev, b) * H;
        for (int64_t u = 0; u < H; u += L) {
          const int64_t w = std::min<int64_t>(L, H - u);
          const V zv = load_lanes(gates + u, w), candidate = load_lanes(gates + 2 * H + u, w);
          V dh = load_lanes(a.dh0 + b * H + u, w);
          if (a.d_outputs) dh += load_lanes(a.d_outputs + row * H + u, w);
          store_lanes(row_d + u, dh * (T(1) - zv) * derivative_vector<T>(candidate, p.activation), w);
          store_lanes(row_d + H + u,
                      dh * (load_lanes(h_prev + u, w) - candidate) * derivative_vector<T>(zv, p.recurrent_activation),
                      w);
          store_lanes(direct + b * H + u, dh * zv, w);
        }
      }
      with_vectors(h_t.vectors, [&](auto NV) {  // d(r * h_{t-1}) = dah @ recurrent_kernel_h^T, then dr
        for (int64_t q = 0; q < h_t.panels; ++q) {
          const int64_t v0 = q * U, w = std::min<int64_t>(U, H - v0);
          panel_product<T, decltype(NV)::value>(r1 - r0, d, ld, H, h_t.panel(q), tile);
          for (int64_t b = r0; b < r1; ++b) {
            const int64_t pos = p.position(s, b);
            if (pos < 0) continue;
            const int64_t prev = p.previous_position(pos, b);
            const T* r = a.gates + p.cache_row(pos, b) * 4 * H + H;
            const T* h_prev = prev < 0 ? a.h0 + b * H : a.outputs + p.row(prev, b) * H;
            for (int64_t j = 0; j < w; j += L) {
              const int64_t u = v0 + j, m = std::min<int64_t>(L, w - j);
              const V d_reset_h = load_lanes(tile + (b - r0) * U + j, m), rv = load_lanes(r + u, m);
              store_lanes(d + (b - r0) * ld + 2 * H + u,
                          d_reset_h * load_lanes(h_prev + u, m) * derivative_vector<T>(rv, p.recurrent_activation), m);
              store_lanes(direct + b * H + u, load_lanes(direct + b * H + u, m) + d_reset_h * rv, m);
            }
          }
        }
      });
      for (int64_t b = r0; b < r1; ++b) {  // dz kept for the weight gradients, at the row's position
        const int64_t pos = p.position(s, b);
        copy_values(d + (b - r0) * ld, 4 * H, gradients.dz + p.row(pos < 0 ? p.padding_position(s, b) : pos, b) * 4 * H);
      }
      with_vectors(zr_t.vectors, [&](auto NV) {  // the carry: [dz | dr] @ recurrent_kernel_zr^T + direct
        for (int64_t q = 0; q < zr_t.panels; ++q) {
          const int64_t v0 = q * U, w = std::min<int64_t>(U, H - v0);
          panel_product<T, decltype(NV)::value>(r1 - r0, d + H, ld, 2 * H, zr_t.panel(q), tile);
          for (int64_t b = r0; b < r1; ++b)
            if (p.position(s, b) >= 0)
              for (int64_t j = 0; j < w; ++j) a.dh0[b * H + v0 + j] = tile[(b - r0) * U + j] + direct[b * H + v0 + j];
        }
      });
    }
  };
  parallel_for_threads(static_cast<int>(threads), loop);
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
