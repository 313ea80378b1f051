// simple_rnn.cpp: SimpleRNN forward and backward (see simple_rnn.h). Compiled once per SIMD
// level into namespace FASTRNN_ISA. The recurrent weights are packed once per call into panels
// of consecutive units; each step multiplies a tile of rows by a panel (packed.h) and applies
// bias and activation to the tile while it is hot. Threads split rows or units (recurrence.h).
#include "simple_rnn.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "backward_loop.h"
#include "forward_loop.h"

namespace fastrnn {
namespace FASTRNN_ISA {

template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  std::copy(a.h0, a.h0 + B * H, a.h_T);
  if (p.T == 0 || B == 0 || H == 0) return;
  const InputProduct input = input_product<T>(p, 1);
  const bool blas = input == InputProduct::blas;
  Scratch workspace(blas ? p.T * B * H * sizeof(T) : 0);
  T* projection = blas ? workspace.as<T>() : nullptr;
  if (blas) input_projection(p, 1, a.x, a.kernel, projection);
  PackedPanels<T> packed, kernel_panels;
  const StackedWeights<T> weights{a.kernel, a.recurrent_kernel, input == InputProduct::fused ? p.D : 0, H};
  const StackedWeights<T> kernel_rows{a.kernel, nullptr, p.D, H};
  const LoopSplit split = pack_units(p, weights.D + H, H, weights, packed, &kernel_rows,
                                     input == InputProduct::packed ? &kernel_panels : nullptr);
  const int64_t U = packed.width;
  auto prefetch_next = [&](int64_t pos, int64_t b, int64_t q) {
    const int64_t row = p.row(pos, b), u0 = q * U, w = std::min<int64_t>(U, H - u0);
    if (projection) prefetch<2>(projection + row * H + u0, w);
    prefetch<2>(a.outputs + row * H + u0, w, true);
  };
  const OutputWrites<T> outputs(p, a.saved_outputs);
  // h_t = act(z (+ x_t @ kernel unless the step made it) + bias) for row b and panel q's units
  auto update = [&](int64_t s, int64_t b, int64_t q, T* z, const T* h_prev, T* h_next) {
    const int64_t u0 = q * U, w = std::min<int64_t>(U, H - u0);
    const int64_t pos = p.position(s, b);
    if (pos < 0) {  // sequence ended: state carries over, output is zero
      std::copy(h_prev + u0, h_prev + u0 + w, h_next + u0);
      std::fill_n(a.outputs + p.row(p.padding_position(s, b), b) * H + u0, w, T(0));
      if (outputs.saved_beside) std::fill_n(outputs.saved_beside + p.row(p.padding_position(s, b), b) * H + u0, w, T(0));
      return;
    }
    if (projection) {
      const T* xw = projection + p.row(pos, b) * H + u0;
      for (int64_t j = 0; j < w; ++j) z[j] += xw[j];
    }
    for (int64_t j = 0; j < w; ++j) z[j] += a.bias[u0 + j];
    activate(z, U, p.activation);
    copy_values(z, w, h_next + u0);
    T* out = a.outputs + p.row(pos, b) * H + u0;
    if (!outputs.stream) return copy_values(z, w, out);
    T* saved = outputs.saved_beside ? outputs.saved_beside + p.row(pos, b) * H + u0 : nullptr;
    for (int64_t j = 0; j < w; j += lanes<T>()) {  // both streamed from one load
      const int64_t n = std::min<int64_t>(lanes<T>(), w - j);
      const auto h = load_lanes(z + j, n);
      stream_lanes(out + j, h, n);
      if (saved) stream_lanes(saved + j, h, n);
    }
  };
  with_vectors(packed.vectors, [&](auto NV) {
    forward_through_time<T, decltype(NV)::value>(p, packed, split, input, a.x, kernel_panels, a.h0, a.h_T, update,
                                                 prefetch_next);
  });
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  outputs.finish(a.outputs);
}

template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  // dh0 is the running carry: the gradient flowing into the state between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  if (p.T == 0 || B == 0 || H == 0) {  // gradients over no steps
    WeightGradients<T>(p, 1, nullptr, a.x, a.outputs, a.h0, a.kernel, a.dx)
        .finish(a.dkernel, a.drecurrent_kernel, a.dbias);
    return;
  }
  PackedPanels<T> packed;
  const LoopSplit split = pack_units(p, H, H, Transposed<T>{a.recurrent_kernel, H}, packed);
  WeightGradients<T> gradients(p, 1, &split, a.x, a.outputs, a.h0, a.kernel, a.dx);
  T* dz_cache = gradients.dz_cache();
  auto prefetch_next = [&](int64_t pos, int64_t b, int64_t u0, int64_t u1) {
    const int64_t row = p.row(pos, b);
    prefetch<3>(a.outputs + row * H + u0, u1 - u0);
    if (dz_cache) prefetch<3>(dz_cache + row * H + u0, u1 - u0, true);
    if (a.d_outputs) prefetch<3>(a.d_outputs + row * H + u0, u1 - u0);
  };
  // through h_t = act(z_t): dz = (carry + d_outputs) * act'
  auto cell = [&](int64_t s, int64_t b, int64_t u0, int64_t u1, T* d) {
    const int64_t w = u1 - u0, pos = p.position(s, b);
    T* dzb = d + u0;
    if (pos < 0) {
      std::fill_n(dzb, w, T(0));
      if (dz_cache) std::fill_n(dz_cache + p.row(p.padding_position(s, b), b) * H + u0, w, T(0));
      return;
    }
    const int64_t row = p.row(pos, b);
    const T* carry = a.dh0 + b * H + u0;
    if (a.d_outputs) {
      const T* dout = a.d_outputs + row * H + u0;
      for (int64_t j = 0; j < w; ++j) dzb[j] = carry[j] + dout[j];
    } else {
      copy_values(carry, w, dzb);
    }
    times_derivative(dzb, a.outputs + row * H + u0, w, p.activation);
    if (dz_cache) copy_values(dzb, w, dz_cache + row * H + u0);
  };
  with_vectors(packed.vectors, [&](auto NV) {
    backward_through_time<T, decltype(NV)::value>(p, 1, packed, split, a.dh0, cell, prefetch_next,
                                                  gradients.chunked());
  });
  if (call_interrupted()) return;  // Ctrl-C: the results are dropped
  gradients.finish(a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void simple_rnn_forward<float>(const RnnProblem&, const SimpleRnnForward<float>&);
template void simple_rnn_forward<double>(const RnnProblem&, const SimpleRnnForward<double>&);
template void simple_rnn_backward<float>(const RnnProblem&, const SimpleRnnBackward<float>&);
template void simple_rnn_backward<double>(const RnnProblem&, const SimpleRnnBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
