// lstm.cpp: LSTM forward and backward (see lstm.h). Compiled once per SIMD level into namespace
// FASTRNN_ISA. The recurrent weights are packed once per call so that a panel holds `lanes`
// units of all four gates; each step multiplies a tile of rows by a panel (packed.h) and
// applies bias, gate nonlinearities and the cell update to that tile while it is hot.
#include "lstm.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "backward_loop.h"
#include "forward_loop.h"

namespace fastrnn {
namespace FASTRNN_ISA {

namespace {
constexpr int G = 4;  // gates i, f, c, o

// One row b and the units [u0, u0 + w) at step s: z (G, L) holds the tile's h_{t-1} @ recurrent_kernel
// (plus x_t @ kernel when projection is null: the input product fused into the step). outputs
// as OutputWrites says.
template <typename T>
inline void cell_forward(const RnnProblem& p, const LstmForward<T>& a, const T* projection,
                         const OutputWrites<T>& outputs, int64_t s, int64_t b, int64_t u0, int64_t w, const T* z,
                         const T* h_prev, T* h_next) {  // rows b of h
  constexpr int L = lanes<T>();
  const int64_t H = p.H;
  const int64_t pos = p.position(s, b);
  if (pos < 0) {  // sequence ended: states carry over, output is zero
    std::copy(h_prev + u0, h_prev + u0 + w, h_next + u0);
    std::fill_n(a.outputs + p.row(p.padding_position(s, b), b) * H + u0, w, T(0));
    if (outputs.saved_beside) std::fill_n(outputs.saved_beside + p.row(p.padding_position(s, b), b) * H + u0, w, T(0));
    return;
  }
  const int64_t row = p.row(pos, b);
  const T* bias = a.bias + u0;
  using V = typename Vec<T>::type;
  V gate[G];  // i, f, c, o: z (+ x_t @ kernel unless the step made it) + bias, then activated
  for (int g = 0; g < G; ++g) {
    std::memcpy(&gate[g], z + g * L, sizeof(V));
    if (projection) gate[g] += load_lanes(projection + row * G * H + g * H + u0, w);
    gate[g] += load_lanes(bias + g * H, w);
  }
  gate[0] = activate_vector<T>(gate[0], p.recurrent_activation);
  gate[1] = activate_vector<T>(gate[1], p.recurrent_activation);
  gate[2] = activate_vector<T>(gate[2], p.activation);
  gate[3] = activate_vector<T>(gate[3], p.recurrent_activation);
  // c_t = f * c_{t-1} + i * g;  h_t = o * act(c_t)
  T* c_state = a.c_T + b * H + u0;
  const V c = gate[1] * load_lanes(c_state, w) + gate[0] * gate[2];
  const V h = gate[3] * activate_vector<T>(c, p.activation);
  store_lanes(c_state, c, w);
  if (outputs.stream) stream_lanes(a.outputs + row * H + u0, h, w);
  else store_lanes(a.outputs + row * H + u0, h, w);
  if (outputs.saved_beside) stream_lanes(outputs.saved_beside + row * H + u0, h, w);
  store_lanes(h_next + u0, h, w);
  if (a.gates) {  // the activated gates and c_t, for backward
    const int64_t cached = p.cache_row(pos, b);
    for (int g = 0; g < G; ++g) stream_lanes(a.gates + cached * G * H + g * H + u0, gate[g], w);
    stream_lanes(a.cells + cached * H + u0, c, w);
  }
}

// One row b and units [u0, u1) at step s, backward: from the carries dh0, dc0 to the gate gradients
// d (row b of the step's dz, G*H wide, also kept in dz_cache for the weight gradients unless that
// is null) and the new cell carry, a vector of units at a time.
template <typename T>
inline void cell_backward(const RnnProblem& p, const LstmBackward<T>& a, int64_t s, int64_t b, int64_t u0,
                          int64_t u1, T* d, T* dz_cache) {
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  const int64_t H = p.H;
  const int64_t pos = p.position(s, b);
  if (pos < 0) {
    for (int g = 0; g < G; ++g) std::fill(d + g * H + u0, d + g * H + u1, T(0));
    for (int g = 0; g < G && dz_cache; ++g) std::fill_n(dz_cache + p.row(p.padding_position(s, b), b) * G * H + g * H + u0, u1 - u0, T(0));
    return;
  }
  const int64_t row = p.row(pos, b);
  const int64_t prev = p.previous_position(pos, b);
  const int64_t cached = p.cache_row(pos, b);
  const T* gates = a.gates + cached * G * H;
  const T* cells = a.cells + cached * H;
  const T* cells_prev = prev < 0 ? a.c0 + b * H : a.cells + p.cache_row(prev, b) * H;
  const T* dout = a.d_outputs ? a.d_outputs + row * H : nullptr;
  T* dz_row = dz_cache ? dz_cache + row * G * H : nullptr;
  const Activation ra = p.recurrent_activation, act = p.activation;
  for (int64_t u = u0; u < u1; u += L) {
    const int64_t w = std::min<int64_t>(L, u1 - u);
    const V i = load_lanes(gates + u, w), f = load_lanes(gates + H + u, w);
    const V g = load_lanes(gates + 2 * H + u, w), o = load_lanes(gates + 3 * H + u, w);
    V dh = load_lanes(a.dh0 + b * H + u, w);
    if (dout) dh += load_lanes(dout + u, w);
    // through h_t = o * act(c_t)
    const V cell_act = activate_vector<T>(load_lanes(cells + u, w), act);
    const V dc = load_lanes(a.dc0 + b * H + u, w) + dh * o * derivative_vector<T>(cell_act, act);
    // through c_t = f * c_{t-1} + i * g
    const V dgates[G] = {dc * g * derivative_vector<T>(i, ra),
                         dc * load_lanes(cells_prev + u, w) * derivative_vector<T>(f, ra),
                         dc * i * derivative_vector<T>(g, act), dh * cell_act * derivative_vector<T>(o, ra)};
    store_lanes(a.dc0 + b * H + u, dc * f, w);
    for (int k = 0; k < G; ++k) {
      store_lanes(d + k * H + u, dgates[k], w);
      if (dz_row) stream_lanes(dz_row + k * H + u, dgates[k], w);
    }
  }
}
}  // namespace

template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  std::copy(a.h0, a.h0 + B * H, a.h_T);
  std::copy(a.c0, a.c0 + B * H, a.c_T);  // c_T is the running cell state
  if (p.T == 0 || B == 0 || H == 0) return;
  // x @ kernel (forward_loop.h InputProduct): from OpenBLAS for all steps first (blas; in training
  // the projection becomes the gate cache, row by row, where their rows coincide: x time-major,
  // or a batch of one), in the step (fused), or from the kernel's own packed panels (packed).
  const InputProduct input = input_product<T>(p, G);
  const bool blas = input == InputProduct::blas, in_cache = blas && a.gates && (p.time_major || B == 1);
  Scratch workspace(!blas || in_cache ? 0 : p.T * B * G * H * sizeof(T));
  T* projection = !blas ? nullptr : in_cache ? a.gates : workspace.as<T>();
  if (blas) input_projection(p, G, a.x, a.kernel, projection);
  // [kernel;] recurrent_kernel (and kernel alone, packed) packed: panel q = units [q*L, q*L + L)
  // of gates i, f, c, o
  PackedPanels<T> packed, kernel_panels;
  const bool fused = input == InputProduct::fused, packed_input = input == InputProduct::packed;
  const StackedWeights<T> weights{a.kernel, a.recurrent_kernel, fused ? p.D : 0, G * H};
  const StackedWeights<T> kernel_rows{a.kernel, nullptr, p.D, G * H};
  const LoopSplit split = pack_recurrent(
      p, weights.D + H, (H + L - 1) / L, G,
      [&](int64_t q, int c) { const int64_t u = q * L + c % L; return u < H ? (c / L) * H + u : -1; }, weights,
      packed, &kernel_rows, packed_input ? &kernel_panels : nullptr);
  const OutputWrites<T> outputs(p, a.saved_outputs);
  auto prefetch_next = [&](int64_t pos, int64_t b, int64_t q) {
    const int64_t row = p.row(pos, b), cached = p.cache_row(pos, b);
    const int64_t u0 = q * L, w = std::min<int64_t>(L, H - u0);
    for (int g = 0; g < G; ++g) {
      if (projection) prefetch<2>(projection + row * G * H + g * H + u0, w, projection == a.gates);
      if (a.gates && projection != a.gates) prefetch<2>(a.gates + cached * G * H + g * H + u0, w, true);
    }
    prefetch<2>(a.outputs + row * H + u0, w, true);
    if (a.cells) prefetch<2>(a.cells + cached * H + u0, w, true);
  };
  auto update = [&](int64_t s, int64_t b, int64_t q, const T* z, const T* h_prev, T* h_next) {
    cell_forward(p, a, projection, outputs, s, b, q * L, std::min<int64_t>(L, H - q * L), z, h_prev, h_next);
  };
  forward_through_time<T, G>(p, packed, split, input, a.x, kernel_panels, a.h0, a.h_T, update, prefetch_next);
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  outputs.finish(a.outputs);
}

template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  // dh0 and dc0 are the running carries: gradients flowing into h and c between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  if (a.d_c) std::copy(a.d_c, a.d_c + B * H, a.dc0);
  else std::fill_n(a.dc0, B * H, T(0));
  if (p.T == 0 || B == 0 || H == 0) {  // gradients over no steps
    WeightGradients<T>(p, G, nullptr, a.x, a.outputs, a.h0, a.kernel, a.dx)
        .finish(a.dkernel, a.drecurrent_kernel, a.dbias);
    return;
  }
  PackedPanels<T> packed;
  const LoopSplit split = pack_units(p, G * H, H, Transposed<T>{a.recurrent_kernel, G * H}, packed);
  WeightGradients<T> gradients(p, G, &split, a.x, a.outputs, a.h0, a.kernel, a.dx);
  T* dz_cache = gradients.dz_cache();
  auto prefetch_next = [&](int64_t pos, int64_t b, int64_t u0, int64_t u1) {
    const int64_t row = p.row(pos, b), cached = p.cache_row(pos, b);
    for (int g = 0; g < G; ++g) {
      prefetch<3>(a.gates + cached * G * H + g * H + u0, u1 - u0);
      if (dz_cache) prefetch<3>(dz_cache + row * G * H + g * H + u0, u1 - u0, true);
    }
    prefetch<3>(a.cells + cached * H + u0, u1 - u0);
    if (a.d_outputs) prefetch<3>(a.d_outputs + row * H + u0, u1 - u0);
  };
  auto cell = [&](int64_t s, int64_t b, int64_t u0, int64_t u1, T* d) {
    cell_backward(p, a, s, b, u0, u1, d, dz_cache);
  };
  with_vectors(packed.vectors, [&](auto NV) {
    backward_through_time<T, decltype(NV)::value>(p, G, packed, split, a.dh0, cell, prefetch_next,
                                                  gradients.chunked());
  });
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  gradients.finish(a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void lstm_forward<float>(const RnnProblem&, const LstmForward<float>&);
template void lstm_forward<double>(const RnnProblem&, const LstmForward<double>&);
template void lstm_backward<float>(const RnnProblem&, const LstmBackward<float>&);
template void lstm_backward<double>(const RnnProblem&, const LstmBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
