// lstm.cu: LSTM forward and backward on the GPU (see rnn_cuda.h), Keras gate order i, f, c, o.
//   z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias = [z_i | z_f | z_c | z_o]
//   i, f, o = ra(z_i), ra(z_f), ra(z_o);  g = act(z_c);  c_t = f c_{t-1} + i g;  h_t = o act(c_t)
// Per step: one cuBLAS product with the recurrent weights, then one fused kernel for bias, the
// four nonlinearities and both state updates. Not here: the persistent kernel (persistent.cu).
#include "blas_cuda.h"
#include "rnn_cuda.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

constexpr int G = 4;  // gates i, f, c, o

// Step s, one thread per (b, unit j). h and c (B,H) are the states, updated in place; an ended
// sequence keeps them and gets zero output (and zero caches) at its padding position.
template <typename T>
__global__ void forward_step(Steps st, int64_t s, int64_t H, Activation act, Activation ract,
                             const T* __restrict__ projection, const T* __restrict__ recurrent,
                             const T* __restrict__ bias, T* __restrict__ h, T* __restrict__ c,
                             T* __restrict__ outputs, T* __restrict__ gates, T* __restrict__ cells) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H;
  const int64_t pos = st.position(s, b);
  if (pos < 0) {
    const int64_t padding = st.padding_position(s, b), crow = st.cache_row(padding, b);
    outputs[st.row(padding, b) * H + j] = T(0);
    if (gates)
      for (int k = 0; k < G; ++k) gates[crow * G * H + k * H + j] = T(0);
    if (cells) cells[crow * H + j] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b), crow = st.cache_row(pos, b);
  const T* zx = projection + row * G * H + j;
  const T* zh = recurrent + b * G * H + j;
  const T i = activate(zx[0] + zh[0] + bias[j], ract);
  const T f = activate(zx[H] + zh[H] + bias[H + j], ract);
  const T g = activate(zx[2 * H] + zh[2 * H] + bias[2 * H + j], act);
  const T o = activate(zx[3 * H] + zh[3 * H] + bias[3 * H + j], ract);
  const T c_new = f * c[idx] + i * g;
  const T h_new = o * activate(c_new, act);
  c[idx] = c_new;
  h[idx] = h_new;
  outputs[row * H + j] = h_new;
  if (gates) {
    T* gr = gates + crow * G * H + j;
    gr[0] = i;
    gr[H] = f;
    gr[2 * H] = g;
    gr[3 * H] = o;
  }
  if (cells) cells[crow * H + j] = c_new;
}

// Backward step s, one thread per (b, j). carry_h (B,H) is the gradient into h: back (B,H), the
// product of step s+1, for sequences that ran at step s+1, else unchanged. carry_c is the
// gradient into c, updated here. dz (B,4H) goes to its position in dz_all and to dz_step.
template <typename T>
__global__ void backward_step(Steps st, int64_t s, int64_t H, Activation act, Activation ract,
                              const T* __restrict__ gates, const T* __restrict__ cells, const T* __restrict__ c0,
                              const T* __restrict__ d_outputs, const T* __restrict__ back, T* __restrict__ carry_h,
                              T* __restrict__ carry_c, T* __restrict__ dz_all, T* __restrict__ dz_step) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H;
  const T incoming = (s + 1 < st.T && st.position(s + 1, b) >= 0) ? back[idx] : carry_h[idx];
  carry_h[idx] = incoming;
  if (s < 0) return;  // the call after the loop: only settles the carry into dh0
  const int64_t pos = st.position(s, b);
  T* dzs = dz_step + b * G * H + j;
  if (pos < 0) {
    T* dza = dz_all + st.row(st.padding_position(s, b), b) * G * H + j;
    for (int k = 0; k < G; ++k) dza[k * H] = dzs[k * H] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b), crow = st.cache_row(pos, b);
  const T* gr = gates + crow * G * H + j;
  const T i = gr[0], f = gr[H], g = gr[2 * H], o = gr[3 * H];
  const T cell_act = activate(cells[crow * H + j], act);
  const int64_t prev = st.previous_position(pos, b);
  const T c_prev = prev < 0 ? c0[idx] : cells[st.cache_row(prev, b) * H + j];
  const T dh = incoming + (d_outputs ? d_outputs[row * H + j] : T(0));
  // gradient into the cell: from the carry and through h_t = o act(c_t)
  const T dc = carry_c[idx] + times_derivative(dh * o, cell_act, act);
  carry_c[idx] = dc * f;
  const T dz[G] = {times_derivative(dc * g, i, ract), times_derivative(dc * c_prev, f, ract),
                   times_derivative(dc * i, g, act), times_derivative(dh * cell_act, o, ract)};
  T* dza = dz_all + row * G * H + j;
#pragma unroll
  for (int k = 0; k < G; ++k) dza[k * H] = dzs[k * H] = dz[k];
}

}  // namespace

template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, N = G * p.H, rows = p.T * p.B;
  ctx.ran_persistent = ctx.allow_persistent && lstm_forward_persistent<T>(p, a, ctx);
  if (ctx.ran_persistent) return;
  // The states live in h_T and c_T from the start: an ended sequence stops updating them.
  copy_or_zero(a.h_T, a.h0, B * H, ctx.stream, "copy h0");
  copy_or_zero(a.c_T, a.c0, B * H, ctx.stream, "copy c0");
  if (rows == 0 || H == 0) return;
  Scratch<T> projection(rows * N, ctx.stream), recurrent(B * N, ctx.stream);
  // projection (T*B, 4H) = x @ kernel for every step at once, rows in x's layout
  gemm<T>(ctx, false, false, rows, N, p.D, T(1), a.x, p.D, a.kernel, N, T(0), projection.get(), N);
  for (int64_t s = 0; s < p.T; ++s) {
    // recurrent (B,4H) = h_{t-1} @ recurrent_kernel
    gemm<T>(ctx, false, false, B, N, H, T(1), a.h_T, H, a.recurrent_kernel, N, T(0), recurrent.get(), N);
    forward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(
        Steps(p), s, H, p.activation, p.recurrent_activation, projection.get(), recurrent.get(), a.bias, a.h_T,
        a.c_T, a.outputs, a.gates, a.cells);
    check_launch("lstm forward_step");
  }
}

template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, D = p.D, N = G * p.H, rows = p.T * p.B;
  Scratch<T> dz_all(rows * N, ctx.stream), h_prev(rows * H, ctx.stream);
  ctx.ran_persistent = ctx.allow_persistent && lstm_backward_loop_persistent<T>(p, a, dz_all.get(), ctx);
  if (!ctx.ran_persistent) {
    Scratch<T> back(B * H, ctx.stream), dz_step(B * N, ctx.stream);
    // carry_h and carry_c start as d_h and d_c; they end as dh0 and dc0.
    T* carry_h = a.dh0;
    T* carry_c = a.dc0;
    copy_or_zero(carry_h, a.d_h, B * H, ctx.stream, "copy d_h");
    copy_or_zero(carry_c, a.d_c, B * H, ctx.stream, "copy d_c");
    for (int64_t s = p.T - 1; s >= -1 && B * H > 0; --s) {  // s = -1 only settles the carry into dh0
      backward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(
          Steps(p), s, H, p.activation, p.recurrent_activation, a.gates, a.cells, a.c0, a.d_outputs, back.get(),
          carry_h, carry_c, dz_all.get(), dz_step.get());
      check_launch("lstm backward_step");
      // gradient into h_{t-1}: back (B,H) = dz_step (B,4H) @ recurrent_kernel^T
      if (s >= 0)
        gemm<T>(ctx, false, true, B, H, N, T(1), dz_step.get(), N, a.recurrent_kernel, N, T(0), back.get(), H);
    }
  }
  // The weight gradients over all positions at once.
  gather_previous_states<T>(p, a.outputs, a.h0, h_prev.get(), ctx.stream);
  gemm<T>(ctx, false, true, rows, D, N, T(1), dz_all.get(), N, a.kernel, N, T(0), a.dx, D);
  gemm<T>(ctx, true, false, D, N, rows, T(1), a.x, D, dz_all.get(), N, T(0), a.dkernel, N);
  gemm<T>(ctx, true, false, H, N, rows, T(1), h_prev.get(), H, dz_all.get(), N, T(0), a.drecurrent_kernel, N);
  column_sums<T>(rows, N, dz_all.get(), a.dbias, ctx.stream);
}

template void lstm_forward<float>(const RnnProblem&, const LstmForward<float>&, const Context&);
template void lstm_forward<double>(const RnnProblem&, const LstmForward<double>&, const Context&);
template void lstm_backward<float>(const RnnProblem&, const LstmBackward<float>&, const Context&);
template void lstm_backward<double>(const RnnProblem&, const LstmBackward<double>&, const Context&);

}  // namespace cuda
}  // namespace fastrnn
