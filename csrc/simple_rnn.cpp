// simple_rnn.cpp: SimpleRNN forward and backward (see simple_rnn.h). Compiled once per SIMD
// level into namespace FASTRNN_ISA. The recurrent weights are packed once per call into panels
// of consecutive units; each step multiplies a tile of rows by a panel (packed.h) and applies
// bias and activation to the tile while it is hot. Threads split rows or units (recurrence.h).
#include "simple_rnn.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "recurrence.h"

namespace fastrnn {
namespace FASTRNN_ISA {

namespace {
// recurrent_kernel (H, H), or its transpose for backward, packed once per call in panels of
// U = vectors * L consecutive units (panel q = units [q*U, q*U + U)) by the loop's threads.
template <typename T>
LoopSplit pack_recurrent_kernel(const RnnProblem& p, const T* recurrent_kernel, bool transpose,
                                PackedPanels<T>& packed) {
  const int64_t H = p.H;
  constexpr int L = lanes<T>();
  const int nv = vectors_for_units<T>(H);
  packed.resize(H, (H + nv * L - 1) / (nv * L), nv);
  const LoopSplit split = loop_split(p.B, packed.panels, packed.bytes());
  auto pack = [&](int t, int n) {
    packed.fill(packed.panels * t / n, packed.panels * (t + 1) / n, recurrent_kernel, H, transpose,
                [&](int64_t q, int c) { const int64_t u = q * packed.width + c; return u < H ? u : -1; });
  };
  parallel_for_threads(split.threads, pack);
  return split;
}
}  // namespace

template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  std::copy(a.h0, a.h0 + B * H, a.h_T);
  if (p.T == 0 || B == 0 || H == 0) return;
  Scratch workspace(p.T * B * H * sizeof(T));
  T* projection = workspace.as<T>();  // x @ kernel for all steps
  input_projection(p, 1, a.x, a.kernel, projection);
  PackedPanels<T> packed;
  const LoopSplit split = pack_recurrent_kernel(p, a.recurrent_kernel, false, packed);
  // h_{t-1} and h_t, swapped every step; rows padded by a cache line (see lstm.cpp)
  const int64_t ldh = H + 64 / static_cast<int64_t>(sizeof(T));
  std::vector<T> states(2 * B * ldh);
  for (int64_t b = 0; b < B; ++b) std::copy(a.h0 + b * H, a.h0 + (b + 1) * H, states.data() + b * ldh);
  Barrier barrier(split.threads);
  SoloSwitch solo;
  with_vectors(packed.vectors, [&](auto NV) {
    constexpr int U = decltype(NV)::value * L;
    auto loop = [&](int t, int) {
      const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
      int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
      std::vector<T> tile((r1 - r0) * U);  // the panel's product for this thread's rows
      T* z = tile.data();
      for (int64_t s = 0; s < p.T; ++s) {
        const bool alone = split.by_units && solo.active(s);
        if (alone) {  // thread 0 runs the remaining steps by itself (SoloSwitch)
          if (t != 0) return;
          q0 = 0, q1 = packed.panels;
        }
        const T* h_prev = states.data() + (s % 2) * B * ldh;
        T* h_next = states.data() + ((s + 1) % 2) * B * ldh;
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t u0 = q * U, w = std::min<int64_t>(U, H - u0);
          for (int64_t b = r0; b < r1 && s + 1 < p.T; ++b) {  // the next step's rows of this panel
            const int64_t next = p.position(s + 1, b);
            if (next < 0) continue;
            prefetch(projection + p.row(next, b) * H + u0, w);
            prefetch(a.outputs + p.row(next, b) * H + u0, w, true);
          }
          // z = h_{t-1} @ recurrent_kernel for this panel's units
          panel_product<T, decltype(NV)::value>(r1 - r0, h_prev + r0 * ldh, ldh, H, packed.panel(q), z);
          for (int64_t b = r0; b < r1; ++b) {
            const int64_t pos = p.position(s, b);
            if (pos < 0) {  // sequence ended: state carries over, output is zero
              std::copy(h_prev + b * ldh + u0, h_prev + b * ldh + u0 + w, h_next + b * ldh + u0);
              std::fill_n(a.outputs + p.row(s, b) * H + u0, w, T(0));
              continue;
            }
            // h_t = act(x_t @ kernel + z + bias)
            const T* xw = projection + p.row(pos, b) * H + u0;
            T* zi = z + (b - r0) * U;
            for (int64_t j = 0; j < w; ++j) zi[j] += xw[j] + a.bias[u0 + j];
            activate(zi, U, p.activation);
            std::copy(zi, zi + w, h_next + b * ldh + u0);
            std::copy(zi, zi + w, a.outputs + p.row(pos, b) * H + u0);
          }
        }
        if (split.by_units && !alone && barrier.wait() && s > 0) solo.request(s + 2);  // h_t complete first
      }
    };
    parallel_for_threads(split.threads, loop);
  });
  const T* h_last = states.data() + (p.T % 2) * B * ldh;
  for (int64_t b = 0; b < B; ++b) std::copy(h_last + b * ldh, h_last + b * ldh + H, a.h_T + b * H);
}

template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  // dh0 is the running carry: the gradient flowing into the state between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  Scratch scratch(2 * p.T * B * H * sizeof(T));
  T* dz = scratch.as<T>();           // (T*B, H) gradient at the pre-activation, per position
  T* h_prev = dz + p.T * B * H;      // (T*B, H) the state each step consumed
  if (p.T > 0 && B > 0 && H > 0) {
    PackedPanels<T> packed;
    const LoopSplit split = pack_recurrent_kernel(p, a.recurrent_kernel, true, packed);
    const int64_t ldz = H + 64 / static_cast<int64_t>(sizeof(T));  // padded rows, as ldh in forward
    std::vector<T> dz_step(2 * B * ldz);  // this step's dz, two buffers alternating
    Barrier barrier(split.threads);
    SoloSwitch solo;
    with_vectors(packed.vectors, [&](auto NV) {
      constexpr int U = decltype(NV)::value * L;
      auto loop = [&](int t, int) {
        const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
        int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
        int64_t u0 = std::min(H, q0 * U), u1 = std::min(H, q1 * U);
        std::vector<T> tile((r1 - r0) * U);  // the panel's product for this thread's rows
      T* z = tile.data();
        bool was_alone = false;
        for (int64_t s = p.T - 1; s >= 0; --s) {
          const bool alone = split.by_units && solo.active(p.T - 1 - s);
          if (alone) {  // thread 0 runs the remaining steps by itself (SoloSwitch)
            if (!was_alone) barrier.wait();  // once: everyone's dh_{t} product is done
            was_alone = true;
            if (t != 0) return;
            q0 = 0, q1 = packed.panels, u0 = 0, u1 = H;
          }
          const int64_t w = u1 - u0;
          T* d = dz_step.data() + (s % 2) * B * ldz;
          for (int64_t b = r0; b < r1 && w > 0 && s > 0; ++b) {  // the next step's rows, ahead of time
            const int64_t next = p.position(s - 1, b);
            if (next < 0) continue;
            prefetch(a.outputs + p.row(next, b) * H + u0, w);
            prefetch(dz + p.row(next, b) * H + u0, w, true);
            if (a.d_outputs) prefetch(a.d_outputs + p.row(next, b) * H + u0, w);
          }
          for (int64_t b = r0; b < r1 && w > 0; ++b) {
            const int64_t pos = p.position(s, b);
            T* dzb = d + b * ldz + u0;
            if (pos < 0) {
              std::fill_n(dzb, w, T(0));
              std::fill_n(dz + p.row(s, b) * H + u0, w, T(0));
              continue;
            }
            // through h_t = act(z_t): dz = (carry + d_outputs) * act'
            const int64_t row = p.row(pos, b);
            const T* carry = a.dh0 + b * H + u0;
            if (a.d_outputs) {
              const T* dout = a.d_outputs + row * H + u0;
              for (int64_t j = 0; j < w; ++j) dzb[j] = carry[j] + dout[j];
            } else {
              std::copy(carry, carry + w, dzb);
            }
            times_derivative(dzb, a.outputs + row * H + u0, w, p.activation);
            std::copy(dzb, dzb + w, dz + row * H + u0);
          }
          if (split.by_units && !alone && barrier.wait() && s < p.T - 1) solo.request(p.T - 1 - s + 2);  // dz_t first
          // gradient into h_{t-1}: dz_t @ recurrent_kernel^T, kept for running sequences only
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t v0 = q * U, wq = std::min<int64_t>(U, H - v0);
            panel_product<T, decltype(NV)::value>(r1 - r0, d + r0 * ldz, ldz, H, packed.panel(q), z);
            for (int64_t b = r0; b < r1; ++b)
              if (p.position(s, b) >= 0) std::copy(z + (b - r0) * U, z + (b - r0) * U + wq, a.dh0 + b * H + v0);
          }
        }
      };
      parallel_for_threads(split.threads, loop);
    });
  }
  gather_previous_states(p, a.outputs, a.h0, h_prev);
  weight_gradients(p, 1, a.x, a.kernel, h_prev, dz, a.dx, a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void simple_rnn_forward<float>(const RnnProblem&, const SimpleRnnForward<float>&);
template void simple_rnn_forward<double>(const RnnProblem&, const SimpleRnnForward<double>&);
template void simple_rnn_backward<float>(const RnnProblem&, const SimpleRnnBackward<float>&);
template void simple_rnn_backward<double>(const RnnProblem&, const SimpleRnnBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
