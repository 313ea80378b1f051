// simple_rnn.cu: SimpleRNN forward and backward on the GPU (see rnn_cuda.h), float and double.
//   h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
// Per step: one cuBLAS product with the recurrent weights, then one fused kernel (bias,
// activation, state update, output). Outside the loop: the input projection and the weight
// gradients as large products. Not here: the small-batch persistent kernel (persistent.cu).
#include "blas_cuda.h"
#include "rnn_cuda.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

// Step s, one thread per (b, unit j): h = act(projection + recurrent + bias), written to the
// state (B,H) and to the output at the position read; an ended sequence keeps its state and
// outputs zero at its padding position.
template <typename T>
__global__ void forward_step(Steps st, int64_t s, int64_t H, Activation act, const T* __restrict__ projection,
                             const T* __restrict__ recurrent, const T* __restrict__ bias, T* __restrict__ h,
                             T* __restrict__ outputs) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H;
  const int64_t pos = st.position(s, b);
  if (pos < 0) {
    outputs[st.row(st.padding_position(s, b), b) * H + j] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b);
  const T y = activate(projection[row * H + j] + recurrent[idx] + bias[j], act);
  h[idx] = y;
  outputs[row * H + j] = y;
}

// Backward step s, one thread per (b, j). carry (B,H) is the gradient flowing into the state:
// it is back (B,H), the product of step s+1, for sequences that ran at step s+1, else unchanged.
// dz (pre-activation gradient) goes to its position in dz_all and to dz_step (B,H), zero for an
// ended sequence.
template <typename T>
__global__ void backward_step(Steps st, int64_t s, int64_t H, Activation act, const T* __restrict__ outputs,
                              const T* __restrict__ d_outputs, const T* __restrict__ back, T* __restrict__ carry,
                              T* __restrict__ dz_all, T* __restrict__ dz_step) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.B * H) return;
  const int64_t b = idx / H, j = idx - b * H;
  const T incoming = (s + 1 < st.T && st.position(s + 1, b) >= 0) ? back[idx] : carry[idx];
  carry[idx] = incoming;
  if (s < 0) return;  // the call after the loop: only settles the carry into dh0
  const int64_t pos = st.position(s, b);
  if (pos < 0) {
    dz_all[st.row(st.padding_position(s, b), b) * H + j] = T(0);
    dz_step[idx] = T(0);
    return;
  }
  const int64_t row = st.row(pos, b);
  const T dh = incoming + (d_outputs ? d_outputs[row * H + j] : T(0));
  const T dz = times_derivative(dh, outputs[row * H + j], act);
  dz_all[row * H + j] = dz;
  dz_step[idx] = dz;
}

}  // namespace

template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a, const Context& ctx) {
  const int64_t T_ = p.T, B = p.B, H = p.H, rows = p.T * p.B;
  ctx.ran_persistent = ctx.allow_persistent && simple_rnn_forward_persistent<T>(p, a, ctx);
  if (ctx.ran_persistent) return;
  // The state lives in h_T from the start: an ended sequence simply stops updating it.
  copy_or_zero(a.h_T, a.h0, B * H, ctx.stream, "copy h0");
  if (rows == 0 || H == 0) return;
  Scratch<T> projection(rows * H, ctx.stream), recurrent(B * H, ctx.stream);
  // projection (T*B, H) = x @ kernel for every step at once, rows in x's layout
  gemm<T>(ctx, false, false, rows, H, p.D, T(1), a.x, p.D, a.kernel, H, T(0), projection.get(), H);
  for (int64_t s = 0; s < T_; ++s) {
    // recurrent (B,H) = h_{t-1} @ recurrent_kernel
    gemm<T>(ctx, false, false, B, H, H, T(1), a.h_T, H, a.recurrent_kernel, H, T(0), recurrent.get(), H);
    forward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, p.activation, projection.get(),
                                                                     recurrent.get(), a.bias, a.h_T, a.outputs);
    check_launch("simple_rnn forward_step");
  }
}

template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, D = p.D, rows = p.T * p.B;
  Scratch<T> dz_all(rows * H, ctx.stream), h_prev(rows * H, ctx.stream);
  ctx.ran_persistent = ctx.allow_persistent && simple_rnn_backward_loop_persistent<T>(p, a, dz_all.get(), ctx);
  if (!ctx.ran_persistent) {
    Scratch<T> back(B * H, ctx.stream), dz_step(B * H, ctx.stream);
    // carry (B,H), the gradient into the state, starts as d_h and ends as dh0.
    T* carry = a.dh0;
    copy_or_zero(carry, a.d_h, B * H, ctx.stream, "copy d_h");
    for (int64_t s = p.T - 1; s >= -1 && B * H > 0; --s) {  // s = -1 only settles the carry into dh0
      backward_step<T><<<blocks_for(B * H), kThreads, 0, ctx.stream>>>(Steps(p), s, H, p.activation, a.outputs,
                                                                        a.d_outputs, back.get(), carry,
                                                                        dz_all.get(), dz_step.get());
      check_launch("simple_rnn backward_step");
      // gradient into h_{t-1}: back (B,H) = dz_step @ recurrent_kernel^T
      if (s >= 0)
        gemm<T>(ctx, false, true, B, H, H, T(1), dz_step.get(), H, a.recurrent_kernel, H, T(0), back.get(), H);
    }
  }
  // The weight gradients over all positions at once.
  gather_previous_states<T>(p, a.outputs, a.h0, h_prev.get(), ctx.stream);
  gemm<T>(ctx, false, true, rows, D, H, T(1), dz_all.get(), H, a.kernel, H, T(0), a.dx, D);
  gemm<T>(ctx, true, false, D, H, rows, T(1), a.x, D, dz_all.get(), H, T(0), a.dkernel, H);
  gemm<T>(ctx, true, false, H, H, rows, T(1), h_prev.get(), H, dz_all.get(), H, T(0), a.drecurrent_kernel, H);
  column_sums<T>(rows, H, dz_all.get(), a.dbias, ctx.stream);
}

template void simple_rnn_forward<float>(const RnnProblem&, const SimpleRnnForward<float>&, const Context&);
template void simple_rnn_forward<double>(const RnnProblem&, const SimpleRnnForward<double>&, const Context&);
template void simple_rnn_backward<float>(const RnnProblem&, const SimpleRnnBackward<float>&, const Context&);
template void simple_rnn_backward<double>(const RnnProblem&, const SimpleRnnBackward<double>&, const Context&);

}  // namespace cuda
}  // namespace fastrnn
