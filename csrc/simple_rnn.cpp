// simple_rnn.cpp: SimpleRNN forward and backward (see simple_rnn.h). Compiled once per SIMD
// level into namespace FASTRNN_ISA. One OpenMP region per call; each thread owns a slice of
// the batch for all steps (no barrier per step), runs its rows' product with the recurrent
// weights, and applies bias and activation while the rows are hot.
#include "simple_rnn.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "recurrence.h"

namespace fastrnn {
namespace FASTRNN_ISA {

template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  std::copy(a.h0, a.h0 + B * H, a.h_T);  // h_T is the running state
  if (p.T == 0 || B == 0 || H == 0) return;
  std::vector<T> projection(p.T * B * H), step(B * H);
  input_projection(p, 1, a.x, a.kernel, projection.data());
#pragma omp parallel num_threads(loop_threads(B))
  {
    const RowRange rows = row_range(B, omp_get_thread_num(), omp_get_num_threads());
    for (int64_t s = 0; s < p.T && rows.size() > 0; ++s) {
      T* z = step.data() + rows.begin * H;
      gemm<T>(false, false, rows.size(), H, H, T(1), a.h_T + rows.begin * H, H, a.recurrent_kernel, H, T(0), z, H);
      for (int64_t b = rows.begin; b < rows.end; ++b, z += H) {
        const int64_t pos = p.position(s, b);
        if (pos < 0) {  // sequence ended: state carries over, output is zero
          std::fill_n(a.outputs + p.row(s, b) * H, H, T(0));
          continue;
        }
        const T* xw = projection.data() + p.row(pos, b) * H;
        for (int64_t j = 0; j < H; ++j) z[j] = xw[j] + z[j] + a.bias[j];
        activate(z, H, p.activation);
        std::copy(z, z + H, a.h_T + b * H);
        std::copy(z, z + H, a.outputs + p.row(pos, b) * H);
      }
    }
  }
}

template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  // dh0 is the running carry: the gradient flowing into the state between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  std::vector<T> dz(p.T * B * H);  // gradient at the pre-activation, per position
  if (p.T > 0 && B > 0 && H > 0) {
    std::vector<T> dz_step(B * H), back(B * H);
#pragma omp parallel num_threads(loop_threads(B))
    {
      const RowRange rows = row_range(B, omp_get_thread_num(), omp_get_num_threads());
      for (int64_t s = p.T - 1; s >= 0 && rows.size() > 0; --s) {
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t pos = p.position(s, b);
          T* dzb = dz_step.data() + b * H;
          if (pos < 0) {
            std::fill_n(dzb, H, T(0));
            std::fill_n(dz.data() + p.row(s, b) * H, H, T(0));
            continue;
          }
          const int64_t row = p.row(pos, b);
          const T* carry = a.dh0 + b * H;
          if (a.d_outputs) {
            const T* dout = a.d_outputs + row * H;
            for (int64_t j = 0; j < H; ++j) dzb[j] = carry[j] + dout[j];
          } else {
            std::copy(carry, carry + H, dzb);
          }
          times_derivative(dzb, a.outputs + row * H, H, p.activation);
          std::copy(dzb, dzb + H, dz.data() + row * H);
        }
        // gradient into h_{t-1}: dz_step @ recurrent_kernel^T, kept for running sequences only
        T* dh_prev = back.data() + rows.begin * H;
        gemm<T>(false, true, rows.size(), H, H, T(1), dz_step.data() + rows.begin * H, H, a.recurrent_kernel, H,
                T(0), dh_prev, H);
        for (int64_t b = rows.begin; b < rows.end; ++b, dh_prev += H)
          if (p.position(s, b) >= 0) std::copy(dh_prev, dh_prev + H, a.dh0 + b * H);
      }
    }
  }
  std::vector<T> h_prev(p.T * B * H);
  gather_previous_states(p, a.outputs, a.h0, h_prev.data());
  weight_gradients(p, 1, a.x, a.kernel, h_prev.data(), dz.data(), a.dx, a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void simple_rnn_forward<float>(const RnnProblem&, const SimpleRnnForward<float>&);
template void simple_rnn_forward<double>(const RnnProblem&, const SimpleRnnForward<double>&);
template void simple_rnn_backward<float>(const RnnProblem&, const SimpleRnnBackward<float>&);
template void simple_rnn_backward<double>(const RnnProblem&, const SimpleRnnBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
