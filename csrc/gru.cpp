// gru.cpp: GRU forward and backward (see gru.h). Compiled once per SIMD level into namespace
// FASTRNN_ISA. x @ kernel for all steps is one OpenBLAS product before the loop (the h gate needs
// x's part and h's part apart, so neither is fused into the step). With reset_after the steps are
// LSTM's: recurrent_kernel packed so that a panel holds `lanes` units of the three gates, each step
// multiplies a tile of rows by a panel and applies the gates to it while it is hot, threads split
// by rows or units (recurrence.h). Without it (r * h_{t-1} feeds the h gate's product), each step
// makes two products, the h gate's after r is known for all units: the loop is gru_reset_before.h's.
#include "gru.h"

#include <algorithm>
#include <cstring>

#include "activations.h"
#include "backward_loop.h"
#include "forward_loop.h"
#include "gru_gradients.h"
#include "gru_reset_before.h"

namespace fastrnn {
namespace FASTRNN_ISA {

namespace {
constexpr int G = 3;  // gates z, r, h

// One row b and the units [u0, u0 + w) at step s (reset_after): z holds the tile's h_{t-1} @
// recurrent_kernel for the gates z, r, h, the projection x_t @ kernel.
template <typename T>
inline void cell_forward(const RnnProblem& p, const GruForward<T>& a, const T* projection,
                         const OutputWrites<T>& outputs, int64_t s, int64_t b, int64_t u0, int64_t w, const T* z,
                         const T* h_prev, T* h_next) {  // rows b of h
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  const int64_t H = p.H, pos = p.position(s, b);
  if (pos < 0) {  // sequence ended: the state carries over, the output is zero
    std::copy(h_prev + u0, h_prev + u0 + w, h_next + u0);
    const int64_t padding = p.row(p.padding_position(s, b), b);
    std::fill_n(a.outputs + padding * H + u0, w, T(0));
    if (outputs.saved_beside) std::fill_n(outputs.saved_beside + padding * H + u0, w, T(0));
    return;
  }
  const int64_t row = p.row(pos, b);
  const T* xw = projection + row * G * H + u0;
  V r_part[G], x_part[G];  // h_{t-1} @ recurrent_kernel + recurrent_bias, x_t @ kernel + bias
  for (int g = 0; g < G; ++g) {
    std::memcpy(&r_part[g], z + g * L, sizeof(V));
    r_part[g] += load_lanes(a.recurrent_bias + g * H + u0, w);
    x_part[g] = load_lanes(xw + g * H, w) + load_lanes(a.bias + g * H + u0, w);
  }
  const V update = activate_vector<T>(x_part[0] + r_part[0], p.recurrent_activation);
  const V reset = activate_vector<T>(x_part[1] + r_part[1], p.recurrent_activation);
  const V candidate = activate_vector<T>(x_part[2] + reset * r_part[2], p.activation);
  // h_t = z * h_{t-1} + (1 - z) * hh
  const V h = update * load_lanes(h_prev + u0, w) + (T(1) - update) * candidate;
  if (outputs.stream) stream_lanes(a.outputs + row * H + u0, h, w);
  else store_lanes(a.outputs + row * H + u0, h, w);
  if (outputs.saved_beside) stream_lanes(outputs.saved_beside + row * H + u0, h, w);
  store_lanes(h_next + u0, h, w);
  if (a.gates) {  // z, r, hh and r_h, for backward
    T* cached = a.gates + p.cache_row(pos, b) * 4 * H + u0;
    const V kept[4] = {update, reset, candidate, r_part[2]};
    for (int k = 0; k < 4; ++k) stream_lanes(cached + k * H, kept[k], w);
  }
}

// One row b and units [u0, u1) at step s, backward (reset_after): from the carry dh0 to the row's
// dz (4H: dah | dz | dr | dah * r, where dah is the gradient at the h gate's pre-activation: its
// first 3H columns pair with kernel's h, z, r gates, its last 3H with recurrent_kernel's z, r, h),
// kept in dz_cache too, and the carry's direct part, z * dh, in direct.
template <typename T>
inline void cell_backward(const RnnProblem& p, const GruBackward<T>& a, int64_t s, int64_t b, int64_t u0,
                          int64_t u1, T* d, T* dz_cache, T* direct) {
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  const int64_t H = p.H, pos = p.position(s, b);
  if (pos < 0) {
    for (int k = 0; k < 4; ++k) {
      std::fill(d + k * H + u0, d + k * H + u1, T(0));
      std::fill_n(dz_cache + p.row(p.padding_position(s, b), b) * 4 * H + k * H + u0, u1 - u0, T(0));
    }
    return;
  }
  const int64_t row = p.row(pos, b), prev = p.previous_position(pos, b);
  const T* gates = a.gates + p.cache_row(pos, b) * 4 * H;
  const T* h_prev = prev < 0 ? a.h0 + b * H : a.outputs + p.row(prev, b) * H;
  T* cached = dz_cache + row * 4 * H;
  const Activation ra = p.recurrent_activation, act = p.activation;
  for (int64_t u = u0; u < u1; u += L) {
    const int64_t w = std::min<int64_t>(L, u1 - u);
    const V update = load_lanes(gates + u, w), reset = load_lanes(gates + H + u, w);
    const V candidate = load_lanes(gates + 2 * H + u, w), r_h = load_lanes(gates + 3 * H + u, w);
    V dh = load_lanes(a.dh0 + b * H + u, w);
    if (a.d_outputs) dh += load_lanes(a.d_outputs + row * H + u, w);
    // through h_t = z * h_{t-1} + (1 - z) * hh
    const V dah = dh * (T(1) - update) * derivative_vector<T>(candidate, act);
    const V dz = dh * (load_lanes(h_prev + u, w) - candidate) * derivative_vector<T>(update, ra);
    const V dr = dah * r_h * derivative_vector<T>(reset, ra);
    const V parts[4] = {dah, dz, dr, dah * reset};
    for (int k = 0; k < 4; ++k) {
      store_lanes(d + k * H + u, parts[k], w);
      stream_lanes(cached + k * H + u, parts[k], w);
    }
    store_lanes(direct + b * H + u, dh * update, w);
  }
}
}  // namespace

template <typename T>
void gru_forward(const RnnProblem& p, const GruForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  std::copy(a.h0, a.h0 + B * H, a.h_T);
  if (p.T == 0 || B == 0 || H == 0) return;
  Scratch workspace(p.T * B * G * H * sizeof(T));
  T* projection = workspace.as<T>();
  input_projection(p, G, a.x, a.kernel, projection);
  if (!a.reset_after) return gru_forward_reset_before(p, a, projection);
  // recurrent_kernel packed: panel q = units [q*L, q*L + L) of gates z, r, h
  PackedPanels<T> packed, unused;
  const StackedWeights<T> weights{a.kernel, a.recurrent_kernel, 0, G * H};
  const LoopSplit split = pack_recurrent(
      p, H, (H + L - 1) / L, G,
      [&](int64_t q, int c) { const int64_t u = q * L + c % L; return u < H ? (c / L) * H + u : -1; }, weights,
      packed);
  const OutputWrites<T> outputs(p, a.saved_outputs);
  auto prefetch_next = [&](int64_t pos, int64_t b, int64_t q) {
    const int64_t row = p.row(pos, b), u0 = q * L, w = std::min<int64_t>(L, H - u0);
    for (int g = 0; g < G; ++g) prefetch<2>(projection + row * G * H + g * H + u0, w);
    prefetch<2>(a.outputs + row * H + u0, w, true);
  };
  auto update = [&](int64_t s, int64_t b, int64_t q, const T* z, const T* h_prev, T* h_next) {
    cell_forward(p, a, projection, outputs, s, b, q * L, std::min<int64_t>(L, H - q * L), z, h_prev, h_next);
  };
  forward_through_time<T, G>(p, packed, split, InputProduct::blas, a.x, unused, a.h0, a.h_T, update, prefetch_next);
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  outputs.finish(a.outputs);
}

template <typename T>
void gru_backward(const RnnProblem& p, const GruBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  // dh0 is the running carry: the gradient flowing into h between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  GruGradients<T> gradients(p, a);
  if (p.T > 0 && B > 0 && H > 0) {
    if (!a.reset_after) {
      gru_backward_reset_before(p, a, gradients);
    } else {
      PackedPanels<T> packed;  // recurrent_kernel^T (3H, H): the carry is the z, r, h columns of dz @ it
      const LoopSplit split = pack_units(p, G * H, H, Transposed<T>{a.recurrent_kernel, G * H}, packed);
      Scratch direct_memory(B * H * sizeof(T));
      T* direct = direct_memory.as<T>();
      auto prefetch_next = [&](int64_t pos, int64_t b, int64_t u0, int64_t u1) {
        const int64_t row = p.row(pos, b), cached = p.cache_row(pos, b);
        for (int k = 0; k < 4; ++k) {
          prefetch<3>(a.gates + cached * 4 * H + k * H + u0, u1 - u0);
          prefetch<3>(gradients.dz + row * 4 * H + k * H + u0, u1 - u0, true);
        }
        if (a.d_outputs) prefetch<3>(a.d_outputs + row * H + u0, u1 - u0);
      };
      auto cell = [&](int64_t s, int64_t b, int64_t u0, int64_t u1, T* d) {
        cell_backward(p, a, s, b, u0, u1, d, gradients.dz, direct);
      };
      with_vectors(packed.vectors, [&](auto NV) {
        backward_through_time<T, decltype(NV)::value>(p, 4, packed, split, a.dh0, cell, prefetch_next, nullptr,
                                                      StepProduct<T>{H, G * H, direct});
      });
    }
    if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  }
  gradients.finish();
}

template void gru_forward<float>(const RnnProblem&, const GruForward<float>&);
template void gru_forward<double>(const RnnProblem&, const GruForward<double>&);
template void gru_backward<float>(const RnnProblem&, const GruBackward<float>&);
template void gru_backward<double>(const RnnProblem&, const GruBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
