// persistent.cu: forward (inference or training) in one kernel that runs all steps, for small
// problems (the Persistent RNN idea). Block (x, y) owns U units of every gate for Bt sequences
// and keeps those columns of recurrent_kernel in shared memory for the whole call. Owning whole
// sequences (U = H), a block keeps h in shared memory and needs no barrier; owning a slice of the
// units, it exchanges h through global memory with a grid barrier per step. The input
// projection is one cuBLAS product before the kernel. Backward: persistent_backward.cu.
#include <cooperative_groups.h>

#include "blas_cuda.h"
#include "persistent.cuh"
#include "rnn_cuda.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

namespace cg = cooperative_groups;

template <typename T>
struct ForwardArgs {
  Steps st;
  int64_t H, U, Bt;             // units, units per block, sequences per block
  Activation act, ract;
  const T* projection;          // (T*B, G*H) = x @ kernel, rows in x's layout
  const T* recurrent_kernel;    // (H, G*H)
  const T* bias;                // (G*H,)
  const T* h0;                  // (B,H)
  const T* c0;                  // (B,H), LSTM only
  T* h_buffers;                 // (2, B, H): h before step s in half s % 2
  T* outputs;                   // like x with H columns
  T* h_T;                       // (B,H)
  T* c_T;                       // (B,H), LSTM only
  T* gates;                     // LSTM training cache (T, B, 4H) or null
  T* cells;                     // LSTM training cache (T, B, H) or null
};

// Shared memory, rows padded to H+1 so lanes reading one column each hit distinct banks:
// w (G*U, H+1): row k*U+u is recurrent_kernel[:, k*H + unit u]; h (2, Bt, H+1), before and
// after the step; z (Bt, G*U); c (Bt, U).
template <typename T>
size_t forward_smem(int G, int64_t Bt, int64_t H, int64_t U) {
  return sizeof(T) * (G * U * (H + 1) + 2 * Bt * (H + 1) + Bt * G * U + Bt * U);
}

template <typename T, int G>
__global__ void __launch_bounds__(kPersistentThreads) persistent_forward(ForwardArgs<T> a) {
  extern __shared__ unsigned char shared_raw[];
  // In-block indices are 32-bit (the plan keeps a block's share small); global offsets 64-bit.
  const int H = static_cast<int>(a.H), Hp = H + 1, U = static_cast<int>(a.U), B = static_cast<int>(a.st.B);
  const int GH = G * H, GU = G * U, Bt = static_cast<int>(a.Bt);
  const int first = blockIdx.x * U;                  // this block's first unit
  const int units = first + U <= H ? U : H - first;  // the last block may have fewer
  const int b0 = blockIdx.y * Bt;                    // this block's first sequence
  const int Bb = b0 + Bt <= B ? Bt : B - b0;         // and how many it has
  T* w = reinterpret_cast<T*>(shared_raw);
  T* h_s = w + GU * Hp;
  T* z_s = h_s + 2 * Bt * Hp;
  T* c_s = z_s + Bt * GU;
  const int tid = threadIdx.x, threads = blockDim.x;
  const int S = lanes_per_sum(Bb * GU, H, threads);
  // Blocks owning a slice of the units meet all others each step and exchange h through global
  // memory; a block owning whole sequences keeps their h in shared memory and needs no barrier.
  const bool whole = gridDim.x == 1;
  auto barrier = [&]() {
    if (!whole) cg::this_grid().sync();
    else __syncthreads();
  };

  for (int col = 0; col < GU; ++col) {  // this block's weight columns, once
    const int k = col / U, u = col - k * U;
    for (int i = tid; i < H; i += threads)
      w[col * Hp + i] = u < units ? a.recurrent_kernel[static_cast<int64_t>(i) * GH + k * H + first + u] : T(0);
  }
  for (int e = tid; e < Bb * U; e += threads) {
    const int b = e / U, u = e - b * U;
    const int64_t gb = b0 + b;
    if (u < units) {
      if (whole) h_s[b * Hp + u] = a.h0[gb * H + u];
      else a.h_buffers[gb * H + first + u] = a.h0[gb * H + first + u];
      if (G == 4) c_s[e] = a.c0[gb * H + first + u];
    }
  }
  barrier();

  // z_in[k] = projection + bias of gate k for item (b, u) at position pos.
  auto load_inputs = [&](int b, int u, int64_t pos, T* z_in) {
    const int j = first + u;
    const T* zx = a.projection + a.st.row(pos, b0 + b) * GH + j;
#pragma unroll
    for (int k = 0; k < G; ++k) z_in[k] = zx[k * H] + a.bias[k * H + j];
  };
  // The inputs of this thread's first item (e = tid) at step s, if it has one that runs.
  auto prefetch = [&](int64_t s, T* z_in) {
    if (s >= a.st.T || tid >= Bb * U) return false;
    const int b = tid / U, u = tid - b * U;
    const int64_t pos = u < units ? a.st.position(s, b0 + b) : -1;
    if (pos < 0) return false;
    load_inputs(b, u, pos, z_in);
    return true;
  };
  T pre[G];
  bool have_pre = prefetch(0, pre);

  for (int64_t s = 0; s < a.st.T; ++s) {
    T* hs = h_s + (s % 2) * Bt * Hp;  // h before the step, (Bb, H+1)
    T* hs_next = h_s + ((s + 1) % 2) * Bt * Hp;
    const T* h_prev = a.h_buffers + (s % 2) * B * H + static_cast<int64_t>(b0) * H;  // this block's sequences
    T* h_next = a.h_buffers + ((s + 1) % 2) * B * H + static_cast<int64_t>(b0) * H;
    // Start loading the next step's projection and bias for this thread's first item: they do
    // not depend on h, so their latency hides behind this whole step.
    T pre_next[G];
    const bool have_next = prefetch(s + 1, pre_next);
    if (!whole)
      for (int e = tid; e < Bb * H; e += threads) {  // __ldcg: other blocks wrote it, skip L1
        const int b = e / H;
        hs[e + b] = __ldcg(h_prev + e);  // row b starts at b * Hp = b * H + b
      }
    __syncthreads();
    // z (Bb, G*U) = h_{t-1} @ this block's weight columns
    block_dots<T, false>(Bb * GU, H, S, [&](int o) { return hs + (o / GU) * Hp; },
                         [&](int o) { return w + (o % GU) * Hp; }, [&](int o, T sum) { z_s[o] = sum; });
    __syncthreads();
    // the fused step for (b, u): bias, nonlinearities, state update, output (and caches)
    for (int e = tid; e < Bb * U; e += threads) {
      const int b = e / U, u = e - b * U, j = first + u;
      const int64_t gb = b0 + b;
      if (u >= units) continue;
      const int64_t pos = a.st.position(s, gb);
      if (pos < 0) {  // ended: the state carries over; output and caches are zero at its padding position
        const int64_t padding = a.st.padding_position(s, gb), crow = a.st.cache_row(padding, gb);
        if (whole) hs_next[b * Hp + j] = hs[b * Hp + j];
        else h_next[b * H + j] = hs[b * Hp + j];
        a.outputs[a.st.row(padding, gb) * H + j] = T(0);
        if (a.gates) {
          for (int k = 0; k < G; ++k) a.gates[crow * GH + k * H + j] = T(0);
          a.cells[crow * H + j] = T(0);
        }
        continue;
      }
      const int64_t row = a.st.row(pos, gb), crow = a.st.cache_row(pos, gb);
      T zin[G];  // projection + bias: prefetched a step ago for the thread's first item
      if (e == tid && have_pre) {
#pragma unroll
        for (int k = 0; k < G; ++k) zin[k] = pre[k];
      } else {
        load_inputs(b, u, pos, zin);
      }
      const T* zh = z_s + b * GU + u;
      T h_new;
      if (G == 1) {
        h_new = activate(zin[0] + zh[0], a.act);
      } else {
        const T i = activate(zin[0] + zh[0], a.ract);
        const T f = activate(zin[1 % G] + zh[U], a.ract);
        const T g = activate(zin[2 % G] + zh[2 * U], a.act);
        const T o = activate(zin[3 % G] + zh[3 * U], a.ract);
        const T c_new = f * c_s[e] + i * g;
        c_s[e] = c_new;
        h_new = o * activate(c_new, a.act);
        if (a.gates) {
          T* gr = a.gates + crow * GH + j;
          gr[0] = i;
          gr[H] = f;
          gr[2 * H] = g;
          gr[3 * H] = o;
          a.cells[crow * H + j] = c_new;
        }
      }
      if (whole) hs_next[b * Hp + j] = h_new;
      else h_next[b * H + j] = h_new;
      a.outputs[row * H + j] = h_new;
    }
    barrier();
#pragma unroll
    for (int k = 0; k < G; ++k) pre[k] = pre_next[k];
    have_pre = have_next;
  }
  const T* h_last = a.h_buffers + (a.st.T % 2) * B * H;
  const T* hs_last = h_s + (a.st.T % 2) * Bt * Hp;
  for (int e = tid; e < Bb * U; e += threads) {
    const int b = e / U, u = e - b * U;
    const int64_t gb = b0 + b;
    if (u >= units) continue;
    a.h_T[gb * H + first + u] = whole ? hs_last[b * Hp + u] : __ldcg(h_last + gb * H + first + u);
    if (G == 4) a.c_T[gb * H + first + u] = c_s[e];
  }
}

// Runs the persistent kernel if the shape fits this device; false (nothing done) otherwise.
template <typename T, int G>
bool run_forward(const RnnProblem& p, const T* x, const T* kernel, ForwardArgs<T> a, const Context& ctx) {
  const int64_t B = p.B, H = p.H, rows = p.T * p.B;
  if (B < 1 || H < 1 || p.T < 1) return false;
  auto kernel_fn = persistent_forward<T, G>;
  PersistentPlan plan;
  if (!make_plan(kernel_fn, G, B, H, [&](int64_t U, int64_t Bt) { return forward_smem<T>(G, Bt, H, U); }, &plan))
    return false;
  Scratch<T> projection(rows * G * H, ctx.stream), h_buffers(2 * B * H, ctx.stream);
  // projection (T*B, G*H) = x @ kernel for every step at once
  gemm<T>(ctx, false, false, rows, G * H, p.D, T(1), x, p.D, kernel, G * H, T(0), projection.get(), G * H);
  a.st = Steps(p);
  a.H = H;
  a.U = plan.U;
  a.Bt = plan.Bt;
  a.projection = projection.get();
  a.h_buffers = h_buffers.get();
  launch_plan(kernel_fn, plan, &a, ctx.stream, "launch persistent_forward");
  return true;
}

}  // namespace

template <typename T>
bool simple_rnn_forward_persistent(const RnnProblem& p, const SimpleRnnForward<T>& f, const Context& ctx) {
  ForwardArgs<T> a{Steps(p), 0, 0, 0, p.activation, p.recurrent_activation, nullptr, f.recurrent_kernel, f.bias,
                   f.h0, nullptr, nullptr, f.outputs, f.h_T, nullptr, nullptr, nullptr};
  return run_forward<T, 1>(p, f.x, f.kernel, a, ctx);
}

template <typename T>
bool lstm_forward_persistent(const RnnProblem& p, const LstmForward<T>& f, const Context& ctx) {
  ForwardArgs<T> a{Steps(p), 0, 0, 0, p.activation, p.recurrent_activation, nullptr, f.recurrent_kernel, f.bias,
                   f.h0, f.c0, nullptr, f.outputs, f.h_T, f.c_T, f.gates, f.cells};
  return run_forward<T, 4>(p, f.x, f.kernel, a, ctx);
}

template bool simple_rnn_forward_persistent<float>(const RnnProblem&, const SimpleRnnForward<float>&, const Context&);
template bool simple_rnn_forward_persistent<double>(const RnnProblem&, const SimpleRnnForward<double>&, const Context&);
template bool lstm_forward_persistent<float>(const RnnProblem&, const LstmForward<float>&, const Context&);
template bool lstm_forward_persistent<double>(const RnnProblem&, const LstmForward<double>&, const Context&);

}  // namespace cuda
}  // namespace fastrnn
