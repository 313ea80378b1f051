// gru.cu: GRU forward and backward on the GPU (rnn_cuda.h), the twin of gru.cpp: x @ kernel for all
// steps in one cuBLAS product, then per step a cuBLAS product with recurrent_kernel (two with
// reset_after=False: the z, r columns', then (r * h_{t-1}) @ the h columns') and a fused kernel for
// biases, gates and the state update. The caches and dz layouts are gru.h's and gru_gradients.h's.
#include "blas_cuda.h"
#include "rnn_cuda.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

// Forward step s (reset_after), one thread per (b, unit j): recurrent (B,3H) = h_{t-1} @
// recurrent_kernel. The state h (B,H) is updated in place; an ended sequence keeps it and gets
// zero output at its padding position.
template <typename T>
__global__ void forward_step(Steps st, int64_t s, int64_t H, Activation act, Activation ract,
                             const T* __restrict__ projection, const T* __restrict__ recurrent,
                             const T* __restrict__ bias, const T* __restrict__ recurrent_bias, T* __restrict__ h,
                             T* __restrict__ outputs, T* __restrict__ gates) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H, pos = st.position(s, b);
  if (pos < 0) {
    outputs[st.row(st.padding_position(s, b), b) * H + j] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b);
  const T* xw = projection + row * 3 * H + j;
  const T* rec = recurrent + b * 3 * H + j;
  const T z = activate(xw[0] + bias[j] + rec[0] + recurrent_bias[j], ract);
  const T r = activate(xw[H] + bias[H + j] + rec[H] + recurrent_bias[H + j], ract);
  const T r_h = rec[2 * H] + recurrent_bias[2 * H + j];
  const T hh = activate(xw[2 * H] + bias[2 * H + j] + r * r_h, act);
  const T h_new = z * h[idx] + (T(1) - z) * hh;
  h[idx] = h_new;
  outputs[row * H + j] = h_new;
  if (gates) {
    T* g = gates + st.cache_row(pos, b) * 4 * H + j;
    g[0] = z, g[H] = r, g[2 * H] = hh, g[3 * H] = r_h;
  }
}

// reset_after=False, first half of step s: z and r from recurrent (B,3H, its first 2H columns
// filled), z kept in `update`, r * h_{t-1} in reset_h (zero for an ended sequence).
template <typename T>
__global__ void reset_step(Steps st, int64_t s, int64_t H, Activation ract, const T* __restrict__ projection,
                           const T* __restrict__ recurrent, const T* __restrict__ bias, const T* __restrict__ h,
                           T* __restrict__ update, T* __restrict__ reset_h, T* __restrict__ gates) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H, pos = st.position(s, b);
  if (pos < 0) {
    reset_h[idx] = T(0);
    return;
  }
  const T* xw = projection + st.row(pos, b) * 3 * H + j;
  const T* rec = recurrent + b * 3 * H + j;
  const T z = activate(xw[0] + bias[j] + rec[0], ract);
  const T r = activate(xw[H] + bias[H + j] + rec[H], ract);
  update[idx] = z;
  reset_h[idx] = r * h[idx];
  if (gates) {
    T* g = gates + st.cache_row(pos, b) * 4 * H + j;
    g[0] = z, g[H] = r, g[3 * H] = r * h[idx];
  }
}

// reset_after=False, second half: recurrent (B,3H, its last H columns: (r * h_{t-1}) @ U_h).
template <typename T>
__global__ void candidate_step(Steps st, int64_t s, int64_t H, Activation act, const T* __restrict__ projection,
                               const T* __restrict__ recurrent, const T* __restrict__ bias,
                               const T* __restrict__ update, T* __restrict__ h, T* __restrict__ outputs,
                               T* __restrict__ gates) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H, pos = st.position(s, b);
  if (pos < 0) {
    outputs[st.row(st.padding_position(s, b), b) * H + j] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b);
  const T hh = activate(projection[row * 3 * H + 2 * H + j] + bias[2 * H + j] + recurrent[b * 3 * H + 2 * H + j], act);
  const T z = update[idx], h_new = z * h[idx] + (T(1) - z) * hh;
  h[idx] = h_new;
  outputs[row * H + j] = h_new;
  if (gates) gates[(st.cache_row(pos, b) * 4 + 2) * H + j] = hh;
}

// Backward step s, one thread per (b, j): carry (B,H) becomes `back` (the previous step's product
// plus its direct part) for sequences that ran at step s + 1. dz_all's row (4H: dah | dz | dr |
// dah * r) at the position is written; reset_after: `back` gets the direct part z * dh, to which
// the product adds; without it, back gets z * dh and dr waits for reset_grad_step.
template <typename T>
__global__ void backward_step(Steps st, int64_t s, int64_t H, Activation act, Activation ract, bool reset_after,
                              const T* __restrict__ gates, const T* __restrict__ outputs, const T* __restrict__ h0,
                              const T* __restrict__ d_outputs, T* __restrict__ back, T* __restrict__ carry,
                              T* __restrict__ dz_all) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H;
  const T incoming = (s + 1 < st.T && st.position(s + 1, b) >= 0) ? back[idx] : carry[idx];
  carry[idx] = incoming;
  if (s < 0) return;  // the call after the loop: only settles the carry into dh0
  const int64_t pos = st.position(s, b);
  if (pos < 0) {
    T* d = dz_all + st.row(st.padding_position(s, b), b) * 4 * H + j;
    for (int k = 0; k < 4; ++k) d[k * H] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b), prev = st.previous_position(pos, b);
  const T* g = gates + st.cache_row(pos, b) * 4 * H + j;
  const T z = g[0], r = g[H], hh = g[2 * H], r_h = g[3 * H];
  const T h_prev = prev < 0 ? h0[idx] : outputs[st.row(prev, b) * H + j];
  const T dh = incoming + (d_outputs ? d_outputs[row * H + j] : T(0));
  const T dah = times_derivative(dh * (T(1) - z), hh, act);
  T* d = dz_all + row * 4 * H + j;
  d[0] = dah;
  d[H] = times_derivative(dh * (h_prev - hh), z, ract);
  if (reset_after) {
    d[2 * H] = times_derivative(dah * r_h, r, ract);
    d[3 * H] = dah * r;
  } else {
    d[3 * H] = T(0);
  }
  back[idx] = dh * z;
}

// reset_after=False: d_reset_h (B,H) = dah @ U_h^T; dr = d_reset_h * h_{t-1} * ra'(r), and
// back += d_reset_h * r.
template <typename T>
__global__ void reset_grad_step(Steps st, int64_t s, int64_t H, Activation ract, const T* __restrict__ gates,
                                const T* __restrict__ outputs, const T* __restrict__ h0,
                                const T* __restrict__ d_reset_h, T* __restrict__ back, T* __restrict__ dz_all) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H, pos = st.position(s, b);
  if (pos < 0) return;
  const int64_t prev = st.previous_position(pos, b);
  const T r = gates[(st.cache_row(pos, b) * 4 + 1) * H + j];
  const T h_prev = prev < 0 ? h0[idx] : outputs[st.row(prev, b) * H + j];
  dz_all[st.row(pos, b) * 4 * H + 2 * H + j] = times_derivative(d_reset_h[idx] * h_prev, r, ract);
  back[idx] += d_reset_h[idx] * r;
}

// dz_step (B,4H) = the rows of dz_all at this step's positions (the step's products read them).
template <typename T>
__global__ void gather_step(Steps st, int64_t s, int64_t H, const T* __restrict__ dz_all, T* __restrict__ dz_step) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * 4 * H) return;
  const int64_t b = idx / (4 * H), k = idx - b * 4 * H, pos = st.position(s, b);
  dz_step[idx] = pos < 0 ? T(0) : dz_all[st.row(pos, b) * 4 * H + k];
}

// out (n,) = r * h_{t-1} for every position (zero at padding positions), in x's layout.
template <typename T>
__global__ void gather_reset_h(Steps st, int64_t H, const T* __restrict__ gates, T* __restrict__ out) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.T * st.B * H) return;
  const int64_t r = idx / H, j = idx - r * H;
  const int64_t pos = st.time_major ? r / st.B : r % st.T, b = st.time_major ? r % st.B : r / st.T;
  out[idx] = st.consumed(pos, b) ? gates[(st.cache_row(pos, b) * 4 + 3) * H + j] : T(0);
}

}  // namespace

template <typename T>
void gru_forward(const RnnProblem& p, const GruForward<T>& a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, N = 3 * p.H, rows = p.T * p.B;
  ctx.ran_persistent = false;
  copy_or_zero(a.h_T, a.h0, B * H, ctx.stream, "copy h0");  // the state lives in h_T
  if (rows == 0 || H == 0) return;
  Scratch<T> projection(rows * N, ctx.stream), recurrent(B * N, ctx.stream);
  Scratch<T> update(a.reset_after ? 0 : B * H, ctx.stream), reset_h(a.reset_after ? 0 : B * H, ctx.stream);
  gemm<T>(ctx, false, false, rows, N, p.D, T(1), a.x, p.D, a.kernel, N, T(0), projection.get(), N);
  for (int64_t s = 0; s < p.T; ++s) {
    if (a.reset_after) {
      gemm<T>(ctx, false, false, B, N, H, T(1), a.h_T, H, a.recurrent_kernel, N, T(0), recurrent.get(), N);
      forward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(
          Steps(p), s, H, p.activation, p.recurrent_activation, projection.get(), recurrent.get(), a.bias,
          a.recurrent_bias, a.h_T, a.outputs, a.gates);
      check_launch("gru forward_step");
      continue;
    }
    gemm<T>(ctx, false, false, B, 2 * H, H, T(1), a.h_T, H, a.recurrent_kernel, N, T(0), recurrent.get(), N);
    reset_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, p.recurrent_activation,
                                                                   projection.get(), recurrent.get(), a.bias, a.h_T,
                                                                   update.get(), reset_h.get(), a.gates);
    check_launch("gru reset_step");
    gemm<T>(ctx, false, false, B, H, H, T(1), reset_h.get(), H, a.recurrent_kernel + 2 * H, N, T(0),
            recurrent.get() + 2 * H, N);
    candidate_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, p.activation,
                                                                       projection.get(), recurrent.get(), a.bias,
                                                                       update.get(), a.h_T, a.outputs, a.gates);
    check_launch("gru candidate_step");
  }
}

template <typename T>
void gru_backward(const RnnProblem& p, const GruBackward<T>& a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, D = p.D, N = 3 * p.H, rows = p.T * p.B;
  ctx.ran_persistent = false;
  Scratch<T> dz_all(rows * 4 * H, ctx.stream), h_prev(rows * H, ctx.stream);
  Scratch<T> back(B * H, ctx.stream), dz_step(B * 4 * H, ctx.stream), d_reset_h(B * H, ctx.stream);
  T* carry = a.dh0;  // starts as d_h, ends as dh0
  copy_or_zero(carry, a.d_h, B * H, ctx.stream, "copy d_h");
  for (int64_t s = p.T - 1; s >= -1 && B * H > 0; --s) {  // s = -1 only settles the carry into dh0
    backward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(
        Steps(p), s, H, p.activation, p.recurrent_activation, a.reset_after, a.gates, a.outputs, a.h0, a.d_outputs,
        back.get(), carry, dz_all.get());
    check_launch("gru backward_step");
    if (s < 0) break;
    gather_step<T><<<blocks_for(B * 4 * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, dz_all.get(), dz_step.get());
    check_launch("gru gather_step");
    if (a.reset_after) {  // back += [dz | dr | dah * r] @ recurrent_kernel^T
      gemm<T>(ctx, false, true, B, H, N, T(1), dz_step.get() + H, 4 * H, a.recurrent_kernel, N, T(1), back.get(), H);
      continue;
    }
    // d_reset_h = dah @ U_h^T, then dr; back += [dz | dr] @ U_zr^T
    gemm<T>(ctx, false, true, B, H, H, T(1), dz_step.get(), 4 * H, a.recurrent_kernel + 2 * H, N, T(0),
            d_reset_h.get(), H);
    reset_grad_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, p.recurrent_activation,
                                                                        a.gates, a.outputs, a.h0, d_reset_h.get(),
                                                                        back.get(), dz_all.get());
    check_launch("gru reset_grad_step");
    gather_step<T><<<blocks_for(B * 4 * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, dz_all.get(), dz_step.get());
    check_launch("gru gather_step");
    gemm<T>(ctx, false, true, B, H, 2 * H, T(1), dz_step.get() + H, 4 * H, a.recurrent_kernel, N, T(1), back.get(), H);
  }
  // The weight gradients over all positions at once; dz's blocks dah, dz, dr pair with the
  // weights' gate blocks h, z, r.
  const T* dz = dz_all.get();
  const int64_t ldz = 4 * H, dz_block[3] = {H, 2 * H, 0};  // dz's column of gate z, r, h
  gather_previous_states<T>(p, a.outputs, a.h0, h_prev.get(), ctx.stream);
  for (int g = 0; g < 3; ++g) {
    if (a.dx)
      gemm<T>(ctx, false, true, rows, D, H, T(1), dz + dz_block[g], ldz, a.kernel + g * H, N, T(g > 0), a.dx, D);
    gemm<T>(ctx, true, false, D, H, rows, T(1), a.x, D, dz + dz_block[g], ldz, T(0), a.dkernel + g * H, N);
    column_sums<T>(rows, H, dz + dz_block[g], a.dbias + g * H, ctx.stream, ldz);
  }
  if (a.reset_after) {  // [h_{t-1} | 1]^T @ [dz | dr | dah * r]
    gemm<T>(ctx, true, false, H, N, rows, T(1), h_prev.get(), H, dz + H, ldz, T(0), a.drecurrent_kernel, N);
    column_sums<T>(rows, N, dz + H, a.drecurrent_bias, ctx.stream, ldz);
    return;
  }
  gemm<T>(ctx, true, false, H, 2 * H, rows, T(1), h_prev.get(), H, dz + H, ldz, T(0), a.drecurrent_kernel, N);
  gather_reset_h<T><<<blocks_for(rows * H), kThreads, 0, ctx.stream>>>(Steps(p), H, a.gates, h_prev.get());
  check_launch("gru gather_reset_h");
  gemm<T>(ctx, true, false, H, H, rows, T(1), h_prev.get(), H, dz, ldz, T(0), a.drecurrent_kernel + 2 * H, N);
}

template void gru_forward<float>(const RnnProblem&, const GruForward<float>&, const Context&);
template void gru_forward<double>(const RnnProblem&, const GruForward<double>&, const Context&);
template void gru_backward<float>(const RnnProblem&, const GruBackward<float>&, const Context&);
template void gru_backward<double>(const RnnProblem&, const GruBackward<double>&, const Context&);

}  // namespace cuda
}  // namespace fastrnn
