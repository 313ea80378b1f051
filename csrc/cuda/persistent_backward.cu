// persistent_backward.cu: the backward time loop in one kernel, for small problems. Block (x, y)
// owns U hidden units of Bt sequences, keeps their rows of recurrent_kernel and their gradient
// carries (into h, and c for LSTM) in shared memory for the whole call; per step it forms the
// gradient into h from the previous step's dz, then its units' dz, then meets the other blocks
// at a grid barrier (none when it owns whole sequences). The weight gradients stay outside
// (simple_rnn.cu, lstm.cu: cuBLAS products over all steps). Not here: forward (persistent.cu).
#include <cooperative_groups.h>

#include "persistent.cuh"
#include "rnn_cuda.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

namespace cg = cooperative_groups;

template <typename T>
struct BackwardArgs {
  Steps st;
  int64_t H, U, Bt;            // units, units per block, sequences per block
  Activation act, ract;
  const T* recurrent_kernel;   // (H, G*H)
  const T* outputs;            // SimpleRNN: h per position (its derivative is taken from it)
  const T* gates;              // LSTM: activated i, f, g, o per position (T, B, 4H)
  const T* cells;              // LSTM: c per position (T, B, H)
  const T* c0;                 // LSTM: (B,H)
  const T* d_outputs;          // like outputs, or null
  const T* d_h;                // (B,H) or null
  const T* d_c;                // (B,H) or null, LSTM
  T* dz_step;                  // (2, B, G*H): dz of step s in half s % 2
  T* dz_all;                   // (T*B, G*H): dz per position, zero at padding positions
  T* dh0;                      // (B,H)
  T* dc0;                      // (B,H), LSTM
};

// Shared memory, rows padded to G*H+1 against bank conflicts: rows (U, G*H+1), row u is
// recurrent_kernel[unit u, :]; dz (Bt, G*H+1), the previous step's dz of the block's sequences;
// carry_h and carry_c (Bt, U).
template <typename T>
size_t backward_smem(int G, int64_t Bt, int64_t H, int64_t U) {
  return sizeof(T) * ((U + Bt) * (G * H + 1) + 2 * Bt * U);
}

template <typename T, int G>
__global__ void __launch_bounds__(kPersistentThreads) persistent_backward(BackwardArgs<T> a) {
  extern __shared__ unsigned char shared_raw[];
  // In-block indices are 32-bit (the plan keeps a block's share small); global offsets 64-bit.
  const int H = static_cast<int>(a.H), U = static_cast<int>(a.U), B = static_cast<int>(a.st.B);
  const int GH = G * H, GHp = GH + 1, Bt = static_cast<int>(a.Bt);
  const int first = blockIdx.x * U;
  const int units = first + U <= H ? U : H - first;
  const int b0 = blockIdx.y * Bt;             // this block's first sequence
  const int Bb = b0 + Bt <= B ? Bt : B - b0;  // and how many it has
  T* rows = reinterpret_cast<T*>(shared_raw);
  T* dz_s = rows + U * GHp;
  T* carry_h = dz_s + Bt * GHp;
  T* carry_c = carry_h + Bt * U;
  const int tid = threadIdx.x, threads = blockDim.x;
  const int S = lanes_per_sum(Bb * U, GH, threads);
  // blocks owning a slice of the units meet all others each step; whole sequences need not
  auto barrier = [&]() {
    if (gridDim.x > 1) cg::this_grid().sync();
    else __syncthreads();
  };

  for (int u = 0; u < U; ++u)
    for (int col = tid; col < GH; col += threads)
      rows[u * GHp + col] = u < units ? a.recurrent_kernel[static_cast<int64_t>(first + u) * GH + col] : T(0);
  for (int e = tid; e < Bb * U; e += threads) {
    const int b = e / U, u = e - b * U;
    const int64_t j = (b0 + b) * static_cast<int64_t>(H) + first + (u < units ? u : 0);
    carry_h[e] = a.d_h ? a.d_h[j] : T(0);
    carry_c[e] = (G == 4 && a.d_c) ? a.d_c[j] : T(0);
  }
  __syncthreads();

  // What item (b, u) reads at position pos: SimpleRNN {h, d_out}; LSTM {i, f, g, o, c, c_prev, d_out}.
  constexpr int NV = G == 1 ? 2 : 7;
  auto load_cache = [&](int b, int u, int64_t pos, T* v) {
    const int j = first + u;
    const int64_t gb = b0 + b, row = a.st.row(pos, gb), crow = a.st.cache_row(pos, gb);
    v[NV - 1] = a.d_outputs ? a.d_outputs[row * H + j] : T(0);
    if (G == 1) {
      v[0] = a.outputs[row * H + j];
      return;
    }
    const T* gr = a.gates + crow * GH + j;
#pragma unroll
    for (int k = 0; k < G; ++k) v[k] = gr[k * H];
    v[4 % NV] = a.cells[crow * H + j];
    const int64_t prev = a.st.previous_position(pos, gb);
    v[5 % NV] = prev < 0 ? a.c0[gb * H + j] : a.cells[a.st.cache_row(prev, gb) * H + j];
  };
  // The caches of this thread's first item (e = tid) at step s, if it has one that runs.
  auto prefetch = [&](int64_t s, T* v) {
    if (s < 0 || tid >= Bb * U) return false;
    const int b = tid / U, u = tid - b * U;
    const int64_t pos = u < units ? a.st.position(s, b0 + b) : -1;
    if (pos < 0) return false;
    load_cache(b, u, pos, v);
    return true;
  };
  T pre[NV];
  bool have_pre = prefetch(a.st.T - 1, pre);

  for (int64_t s = a.st.T - 1; s >= -1; --s) {
    // Start loading the next step's caches for this thread's first item: they do not depend on
    // the gradients, so their latency hides behind this whole step.
    T pre_next[NV];
    const bool have_next = prefetch(s - 1, pre_next);
    if (s + 1 < a.st.T) {
      // gradient into h_{t-1} of step s+1: dz_step(s+1) (Bb, G*H) @ this block's rows^T, kept
      // only for sequences that ran at step s+1
      const T* dz_prev = a.dz_step + ((s + 1) % 2) * B * GH + static_cast<int64_t>(b0) * GH;
      for (int e = tid; e < Bb * GH; e += threads) {  // __ldcg: other blocks wrote it, skip L1
        const int b = e / GH;
        dz_s[e + b] = __ldcg(dz_prev + e);  // row b starts at b * GHp = b * GH + b
      }
      __syncthreads();
      block_dots<T, false>(Bb * U, GH, S, [&](int o) { return dz_s + (o / U) * GHp; },
                          [&](int o) { return rows + (o % U) * GHp; },
                          [&](int o, T sum) {
                            if (a.st.position(s + 1, b0 + o / U) >= 0) carry_h[o] = sum;
                          });
      __syncthreads();
    }
    if (s < 0) break;
    T* dz_now = a.dz_step + (s % 2) * B * GH;
    for (int e = tid; e < Bb * U; e += threads) {
      const int b = e / U, u = e - b * U, j = first + u;
      const int64_t gb = b0 + b;
      if (u >= units) continue;
      const int64_t pos = a.st.position(s, gb);
      T* dzs = dz_now + gb * GH + j;
      if (pos < 0) {  // ended: zero dz at its padding position, carries unchanged
        T* dza = a.dz_all + a.st.row(a.st.padding_position(s, gb), gb) * GH + j;
        for (int k = 0; k < G; ++k) dza[k * H] = dzs[k * H] = T(0);
        continue;
      }
      const int64_t row = a.st.row(pos, gb);
      T v[NV];  // prefetched a step ago for the thread's first item
      if (e == tid && have_pre) {
#pragma unroll
        for (int k = 0; k < NV; ++k) v[k] = pre[k];
      } else {
        load_cache(b, u, pos, v);
      }
      const T dh = carry_h[e] + v[NV - 1];
      T* dza = a.dz_all + row * GH + j;
      if (G == 1) {
        dza[0] = dzs[0] = times_derivative(dh, v[0], a.act);
        continue;
      }
      const T i = v[0], f = v[1 % NV], g = v[2 % NV], o = v[3 % NV], c_prev = v[5 % NV];
      const T cell_act = activate(v[4 % NV], a.act);
      // gradient into the cell: from the carry and through h_t = o act(c_t)
      const T dc = carry_c[e] + times_derivative(dh * o, cell_act, a.act);
      carry_c[e] = dc * f;
      dza[0] = dzs[0] = times_derivative(dc * g, i, a.ract);
      dza[H] = dzs[H] = times_derivative(dc * c_prev, f, a.ract);
      dza[2 * H] = dzs[2 * H] = times_derivative(dc * i, g, a.act);
      dza[3 * H] = dzs[3 * H] = times_derivative(dh * cell_act, o, a.ract);
    }
    barrier();
#pragma unroll
    for (int k = 0; k < NV; ++k) pre[k] = pre_next[k];
    have_pre = have_next;
  }
  for (int e = tid; e < Bb * U; e += threads) {
    const int b = e / U, u = e - b * U;
    if (u >= units) continue;
    const int64_t j = (b0 + b) * static_cast<int64_t>(H) + first + u;
    a.dh0[j] = carry_h[e];
    if (G == 4) a.dc0[j] = carry_c[e];
  }
}

template <typename T, int G>
bool run_backward(const RnnProblem& p, BackwardArgs<T> a, const Context& ctx) {
  const int64_t B = p.B, H = p.H;
  if (B < 1 || H < 1 || p.T < 1) return false;
  auto kernel_fn = persistent_backward<T, G>;
  PersistentPlan plan;
  if (!make_plan(kernel_fn, G, B, H, [&](int64_t U, int64_t Bt) { return backward_smem<T>(G, Bt, H, U); }, &plan))
    return false;
  Scratch<T> dz_step(2 * B * G * H, ctx.stream);
  a.st = Steps(p);
  a.H = H;
  a.U = plan.U;
  a.Bt = plan.Bt;
  a.dz_step = dz_step.get();
  launch_plan(kernel_fn, plan, &a, ctx.stream, "launch persistent_backward");
  return true;
}

}  // namespace

template <typename T>
bool simple_rnn_backward_loop_persistent(const RnnProblem& p, const SimpleRnnBackward<T>& g, T* dz_all,
                                         const Context& ctx) {
  BackwardArgs<T> a{Steps(p), 0, 0, 0, p.activation, p.recurrent_activation, g.recurrent_kernel, g.outputs,
                    nullptr, nullptr, nullptr, g.d_outputs, g.d_h, nullptr, nullptr, dz_all, g.dh0, nullptr};
  return run_backward<T, 1>(p, a, ctx);
}

template <typename T>
bool lstm_backward_loop_persistent(const RnnProblem& p, const LstmBackward<T>& g, T* dz_all, const Context& ctx) {
  BackwardArgs<T> a{Steps(p), 0, 0, 0, p.activation, p.recurrent_activation, g.recurrent_kernel, g.outputs, g.gates,
                    g.cells, g.c0, g.d_outputs, g.d_h, g.d_c, nullptr, dz_all, g.dh0, g.dc0};
  return run_backward<T, 4>(p, a, ctx);
}

template bool simple_rnn_backward_loop_persistent<float>(const RnnProblem&, const SimpleRnnBackward<float>&, float*,
                                                         const Context&);
template bool simple_rnn_backward_loop_persistent<double>(const RnnProblem&, const SimpleRnnBackward<double>&, double*,
                                                          const Context&);
template bool lstm_backward_loop_persistent<float>(const RnnProblem&, const LstmBackward<float>&, float*, const Context&);
template bool lstm_backward_loop_persistent<double>(const RnnProblem&, const LstmBackward<double>&, double*,
                                                    const Context&);

}  // namespace cuda
}  // namespace fastrnn
