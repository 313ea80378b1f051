// lstm.cpp: LSTM forward and backward (see lstm.h). Compiled once per SIMD level into namespace
// FASTRNN_ISA. Same scheme as simple_rnn.cpp: one OpenMP region per call, each thread owns a
// slice of the batch for all steps, and fuses bias, gate nonlinearities and the cell update
// into the step right after its rows' product with the recurrent weights.
#include "lstm.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "recurrence.h"

namespace fastrnn {
namespace FASTRNN_ISA {

namespace {
constexpr int G = 4;  // gates i, f, c, o
}

template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  std::copy(a.h0, a.h0 + B * H, a.h_T);  // h_T and c_T are the running states
  std::copy(a.c0, a.c0 + B * H, a.c_T);
  if (p.T == 0 || B == 0 || H == 0) return;
  // x @ kernel for all steps; in training it becomes the gate cache, row by row.
  std::vector<T> workspace(a.gates ? 0 : p.T * B * G * H), step(B * G * H);
  T* projection = a.gates ? a.gates : workspace.data();
  input_projection(p, G, a.x, a.kernel, projection);
#pragma omp parallel num_threads(loop_threads(B))
  {
    const RowRange rows = row_range(B, omp_get_thread_num(), omp_get_num_threads());
    std::vector<T> cell_act(H);
    for (int64_t s = 0; s < p.T && rows.size() > 0; ++s) {
      T* z = step.data() + rows.begin * G * H;  // z_i | z_f | z_c | z_o per row
      gemm<T>(false, false, rows.size(), G * H, H, T(1), a.h_T + rows.begin * H, H, a.recurrent_kernel, G * H,
              T(0), z, G * H);
      for (int64_t b = rows.begin; b < rows.end; ++b, z += G * H) {
        const int64_t pos = p.position(s, b);
        if (pos < 0) {  // sequence ended: states carry over, output is zero
          std::fill_n(a.outputs + p.row(s, b) * H, H, T(0));
          continue;
        }
        const int64_t row = p.row(pos, b);
        const T* xw = projection + row * G * H;
        for (int64_t j = 0; j < G * H; ++j) z[j] = xw[j] + z[j] + a.bias[j];
        activate(z, 2 * H, p.recurrent_activation);  // i, f
        activate(z + 2 * H, H, p.activation);         // g
        activate(z + 3 * H, H, p.recurrent_activation);  // o
        const T *i = z, *f = z + H, *g = z + 2 * H, *o = z + 3 * H;
        T* c = a.c_T + b * H;
        for (int64_t j = 0; j < H; ++j) c[j] = f[j] * c[j] + i[j] * g[j];
        std::copy(c, c + H, cell_act.data());
        activate(cell_act.data(), H, p.activation);
        T* out = a.outputs + row * H;
        for (int64_t j = 0; j < H; ++j) out[j] = o[j] * cell_act[j];
        std::copy(out, out + H, a.h_T + b * H);
        if (a.gates) {
          std::copy(z, z + G * H, a.gates + row * G * H);
          std::copy(c, c + H, a.cells + row * H);
        }
      }
    }
  }
}

template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  // dh0 and dc0 are the running carries: gradients flowing into h and c between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  if (a.d_c) std::copy(a.d_c, a.d_c + B * H, a.dc0);
  else std::fill_n(a.dc0, B * H, T(0));
  std::vector<T> dz(p.T * B * G * H);  // gradient at the gate pre-activations, per position
  if (p.T > 0 && B > 0 && H > 0) {
    std::vector<T> dz_step(B * G * H), back(B * H);
#pragma omp parallel num_threads(loop_threads(B))
    {
      const RowRange rows = row_range(B, omp_get_thread_num(), omp_get_num_threads());
      std::vector<T> cell_act(H), dcell(H), dh(H);
      for (int64_t s = p.T - 1; s >= 0 && rows.size() > 0; --s) {
        for (int64_t b = rows.begin; b < rows.end; ++b) {
          const int64_t pos = p.position(s, b);
          T* d = dz_step.data() + b * G * H;  // d_i | d_f | d_c | d_o
          if (pos < 0) {
            std::fill_n(d, G * H, T(0));
            std::fill_n(dz.data() + p.row(s, b) * G * H, G * H, T(0));
            continue;
          }
          const int64_t row = p.row(pos, b);
          const int64_t prev = p.previous_position(pos, b);
          const T* gates = a.gates + row * G * H;
          const T *i = gates, *f = gates + H, *g = gates + 2 * H, *o = gates + 3 * H;
          const T* c = a.cells + row * H;
          const T* c_prev = prev < 0 ? a.c0 + b * H : a.cells + p.row(prev, b) * H;
          const T* carry_h = a.dh0 + b * H;
          T* carry_c = a.dc0 + b * H;
          std::copy(carry_h, carry_h + H, dh.data());
          if (a.d_outputs) {
            const T* dout = a.d_outputs + row * H;
            for (int64_t j = 0; j < H; ++j) dh[j] += dout[j];
          }
          std::copy(c, c + H, cell_act.data());
          activate(cell_act.data(), H, p.activation);
          // through h_t = o * act(c_t)
          for (int64_t j = 0; j < H; ++j) {
            d[3 * H + j] = dh[j] * cell_act[j];
            dcell[j] = dh[j] * o[j];
          }
          times_derivative(dcell.data(), cell_act.data(), H, p.activation);
          // through c_t = f * c_{t-1} + i * g
          for (int64_t j = 0; j < H; ++j) {
            const T dc = carry_c[j] + dcell[j];
            d[j] = dc * g[j];
            d[H + j] = dc * c_prev[j];
            d[2 * H + j] = dc * i[j];
            carry_c[j] = dc * f[j];
          }
          times_derivative(d, i, H, p.recurrent_activation);
          times_derivative(d + H, f, H, p.recurrent_activation);
          times_derivative(d + 2 * H, g, H, p.activation);
          times_derivative(d + 3 * H, o, H, p.recurrent_activation);
          std::copy(d, d + G * H, dz.data() + row * G * H);
        }
        // gradient into h_{t-1}: dz_step @ recurrent_kernel^T, kept for running sequences only
        T* dh_prev = back.data() + rows.begin * H;
        gemm<T>(false, true, rows.size(), H, G * H, T(1), dz_step.data() + rows.begin * G * H, G * H,
                a.recurrent_kernel, G * H, T(0), dh_prev, H);
        for (int64_t b = rows.begin; b < rows.end; ++b, dh_prev += H)
          if (p.position(s, b) >= 0) std::copy(dh_prev, dh_prev + H, a.dh0 + b * H);
      }
    }
  }
  std::vector<T> h_prev(p.T * B * H);
  gather_previous_states(p, a.outputs, a.h0, h_prev.data());
  weight_gradients(p, G, a.x, a.kernel, h_prev.data(), dz.data(), a.dx, a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void lstm_forward<float>(const RnnProblem&, const LstmForward<float>&);
template void lstm_forward<double>(const RnnProblem&, const LstmForward<double>&);
template void lstm_backward<float>(const RnnProblem&, const LstmBackward<float>&);
template void lstm_backward<double>(const RnnProblem&, const LstmBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
