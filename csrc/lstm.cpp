// lstm.cpp: LSTM forward and backward (see lstm.h). Compiled once per SIMD level into namespace
// FASTRNN_ISA. The recurrent weights are packed once per call so that a panel holds `lanes`
// units of all four gates; each step multiplies a tile of rows by a panel (packed.h) and
// applies bias, gate nonlinearities and the cell update to that tile while it is hot.
#include "lstm.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "recurrence.h"
#include "vector_math.h"

namespace fastrnn {
namespace FASTRNN_ISA {

namespace {
constexpr int G = 4;  // gates i, f, c, o

// One row b and the units [u0, u0 + w) at step s: z (G, L) holds the tile's h_{t-1} @ recurrent_kernel.
template <typename T>
inline void cell_forward(const RnnProblem& p, const LstmForward<T>& a, const T* projection, int64_t s, int64_t b,
                         int64_t u0, int64_t w, const T* z, const T* h_prev, T* h_next) {  // rows b of h
  constexpr int L = lanes<T>();
  const int64_t H = p.H;
  const int64_t pos = p.position(s, b);
  if (pos < 0) {  // sequence ended: states carry over, output is zero
    std::copy(h_prev + u0, h_prev + u0 + w, h_next + u0);
    std::fill_n(a.outputs + p.row(s, b) * H + u0, w, T(0));
    return;
  }
  const int64_t row = p.row(pos, b);
  const T* xw = projection + row * G * H + u0;
  const T* bias = a.bias + u0;
  using V = typename Vec<T>::type;
  V gate[G];  // i, f, c, o: z + x_t @ kernel + bias, then activated
  for (int g = 0; g < G; ++g) {
    std::memcpy(&gate[g], z + g * L, sizeof(V));
    gate[g] += load_lanes(xw + g * H, w) + load_lanes(bias + g * H, w);
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
  store_lanes(a.outputs + row * H + u0, h, w);
  store_lanes(h_next + u0, h, w);
  if (a.gates) {  // the activated gates and c_t, for backward
    for (int g = 0; g < G; ++g) store_lanes(a.gates + row * G * H + g * H + u0, gate[g], w);
    store_lanes(a.cells + row * H + u0, c, w);
  }
}

// One row b and units [u0, u1) at step s, backward: from the carries dh0, dc0 to the gate gradients
// d (row b of the step's dz, G*H wide) and the new cell carry.
template <typename T>
inline void cell_backward(const RnnProblem& p, const LstmBackward<T>& a, int64_t s, int64_t b, int64_t u0,
                          int64_t u1, T* d, T* dz_cache, T* cell_act, T* dcell, T* dh) {
  const int64_t H = p.H, w = u1 - u0;
  const int64_t pos = p.position(s, b);
  if (pos < 0) {
    for (int g = 0; g < G; ++g) std::fill_n(d + g * H + u0, w, T(0));
    for (int g = 0; g < G; ++g) std::fill_n(dz_cache + p.row(s, b) * G * H + g * H + u0, w, T(0));
    return;
  }
  const int64_t row = p.row(pos, b);
  const int64_t prev = p.previous_position(pos, b);
  const T* gates = a.gates + row * G * H + u0;
  const T *i = gates, *f = gates + H, *g = gates + 2 * H, *o = gates + 3 * H;
  const T* c = a.cells + row * H + u0;
  const T* c_prev = (prev < 0 ? a.c0 + b * H : a.cells + p.row(prev, b) * H) + u0;
  const T* carry_h = a.dh0 + b * H + u0;
  T* carry_c = a.dc0 + b * H + u0;
  std::copy(carry_h, carry_h + w, dh);
  if (a.d_outputs) {
    const T* dout = a.d_outputs + row * H + u0;
    for (int64_t j = 0; j < w; ++j) dh[j] += dout[j];
  }
  std::copy(c, c + w, cell_act);
  activate(cell_act, w, p.activation);
  T *di = d + u0, *df = d + H + u0, *dg = d + 2 * H + u0, *dout_gate = d + 3 * H + u0;
  // through h_t = o * act(c_t)
  for (int64_t j = 0; j < w; ++j) {
    dout_gate[j] = dh[j] * cell_act[j];
    dcell[j] = dh[j] * o[j];
  }
  times_derivative(dcell, cell_act, w, p.activation);
  // through c_t = f * c_{t-1} + i * g
  for (int64_t j = 0; j < w; ++j) {
    const T dc = carry_c[j] + dcell[j];
    di[j] = dc * g[j];
    df[j] = dc * c_prev[j];
    dg[j] = dc * i[j];
    carry_c[j] = dc * f[j];
  }
  times_derivative(di, i, w, p.recurrent_activation);
  times_derivative(df, f, w, p.recurrent_activation);
  times_derivative(dg, g, w, p.activation);
  times_derivative(dout_gate, o, w, p.recurrent_activation);
  for (int gi = 0; gi < G; ++gi) std::copy(d + gi * H + u0, d + gi * H + u1, dz_cache + row * G * H + gi * H + u0);
}
}  // namespace

template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  std::copy(a.h0, a.h0 + B * H, a.h_T);
  std::copy(a.c0, a.c0 + B * H, a.c_T);  // c_T is the running cell state
  if (p.T == 0 || B == 0 || H == 0) return;
  // x @ kernel for all steps; in training it becomes the gate cache, row by row.
  Scratch workspace(a.gates ? 0 : p.T * B * G * H * sizeof(T));
  T* projection = a.gates ? a.gates : workspace.as<T>();
  input_projection(p, G, a.x, a.kernel, projection);
  // recurrent_kernel packed: panel q = units [q*L, q*L + L) of gates i, f, c, o
  PackedPanels<T> packed;
  packed.resize(H, (H + L - 1) / L, G);
  const LoopSplit split = loop_split(B, packed.panels, packed.bytes());
  auto pack = [&](int t, int n) {
    packed.fill(packed.panels * t / n, packed.panels * (t + 1) / n, a.recurrent_kernel, G * H, false,
                [&](int64_t q, int c) { const int64_t u = q * L + c % L; return u < H ? (c / L) * H + u : -1; });
  };
  parallel_for_threads(split.threads, pack);
  // h_{t-1} and h_t, swapped every step; rows one cache line longer than H so the rows of a
  // tile do not all fall into the same L1 sets (H = 1024 floats is a 4 KB stride)
  const int64_t ldh = H + 64 / static_cast<int64_t>(sizeof(T));
  std::vector<T> states(2 * B * ldh);
  for (int64_t b = 0; b < B; ++b) std::copy(a.h0 + b * H, a.h0 + (b + 1) * H, states.data() + b * ldh);
  Barrier barrier(split.threads);
  SoloSwitch solo;
  auto loop = [&](int t, int) {
    const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
    int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
    std::vector<T> tile((r1 - r0) * G * L);  // the panel's product for this thread's rows
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
        const int64_t u0 = q * L, w = std::min<int64_t>(L, H - u0);
        for (int64_t b = r0; b < r1 && s + 1 < p.T; ++b) {  // the next step's rows of this panel
          const int64_t next = p.position(s + 1, b);
          if (next < 0) continue;
          const int64_t row = p.row(next, b);
          for (int g = 0; g < G; ++g) prefetch(projection + row * G * H + g * H + u0, w, a.gates != nullptr);
          prefetch(a.outputs + row * H + u0, w, true);
          if (a.cells) prefetch(a.cells + row * H + u0, w, true);
        }
        // z = h_{t-1} @ recurrent_kernel for this panel's units, then the fused cell update
        panel_product<T, G>(r1 - r0, h_prev + r0 * ldh, ldh, H, packed.panel(q), z);
        for (int64_t b = r0; b < r1; ++b)
          cell_forward(p, a, projection, s, b, u0, w, z + (b - r0) * G * L, h_prev + b * ldh, h_next + b * ldh);
      }
      if (split.by_units && !alone && barrier.wait() && s > 0) solo.request(s + 2);  // h_t complete first
    }
  };
  parallel_for_threads(split.threads, loop);
  const T* h_last = states.data() + (p.T % 2) * B * ldh;
  for (int64_t b = 0; b < B; ++b) std::copy(h_last + b * ldh, h_last + b * ldh + H, a.h_T + b * H);
}

template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a) {
  const int64_t B = p.B, H = p.H;
  constexpr int L = lanes<T>();
  // dh0 and dc0 are the running carries: gradients flowing into h and c between steps.
  if (a.d_h) std::copy(a.d_h, a.d_h + B * H, a.dh0);
  else std::fill_n(a.dh0, B * H, T(0));
  if (a.d_c) std::copy(a.d_c, a.d_c + B * H, a.dc0);
  else std::fill_n(a.dc0, B * H, T(0));
  Scratch scratch(p.T * B * (G + 1) * H * sizeof(T));
  T* dz = scratch.as<T>();             // (T*B, G*H) gradient at the gate pre-activations, per position
  T* h_prev = dz + p.T * B * G * H;    // (T*B, H) the state each step consumed
  if (p.T > 0 && B > 0 && H > 0) {
    // recurrent_kernel^T (G*H, H) packed: panel q = units [q*U, q*U + U), U = vectors * L
    PackedPanels<T> packed;
    const int nv = vectors_for_units<T>(H);
    packed.resize(G * H, (H + nv * L - 1) / (nv * L), nv);
    const LoopSplit split = loop_split(B, packed.panels, packed.bytes());
    auto pack = [&](int t, int n) {
      packed.fill(packed.panels * t / n, packed.panels * (t + 1) / n, a.recurrent_kernel, G * H, true,
                  [&](int64_t q, int c) { const int64_t u = q * packed.width + c; return u < H ? u : -1; });
    };
    parallel_for_threads(split.threads, pack);
    const int64_t ldz = G * H + 64 / static_cast<int64_t>(sizeof(T));  // padded rows, as ldh in forward
    std::vector<T> dz_step(2 * B * ldz);  // this step's dz, two buffers alternating
    Barrier barrier(split.threads);
    SoloSwitch solo;
    with_vectors(nv, [&](auto NV) {
      auto loop = [&](int t, int) {
        const int64_t r0 = split.rows_begin(t, B), r1 = split.rows_end(t, B);
        int64_t q0 = split.panels_begin(t, packed.panels), q1 = split.panels_end(t, packed.panels);
        const int64_t U = packed.width;
        int64_t u0 = std::min(H, q0 * U), u1 = std::min(H, q1 * U);
        std::vector<T> temp(3 * H);  // act(c_t), d act(c_t), dh_t for one row
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
          T* d = dz_step.data() + (s % 2) * B * ldz;
          for (int64_t b = r0; b < r1 && u1 > u0; ++b) {  // the next step's rows, ahead of time
            const int64_t next = s > 0 ? p.position(s - 1, b) : -1;
            if (next < 0) continue;
            const int64_t row = p.row(next, b);
            for (int g = 0; g < G; ++g) {
              prefetch(a.gates + row * G * H + g * H + u0, u1 - u0);
              prefetch(dz + row * G * H + g * H + u0, u1 - u0, true);
            }
            prefetch(a.cells + row * H + u0, u1 - u0);
            if (a.d_outputs) prefetch(a.d_outputs + row * H + u0, u1 - u0);
          }
          for (int64_t b = r0; b < r1 && u1 > u0; ++b)
            cell_backward(p, a, s, b, u0, u1, d + b * ldz, dz, temp.data(), temp.data() + H,
                          temp.data() + 2 * H);
          if (split.by_units && !alone && barrier.wait() && s < p.T - 1) solo.request(p.T - 1 - s + 2);  // dz_t first
          // gradient into h_{t-1}: dz_t @ recurrent_kernel^T, kept for running sequences only
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t v0 = q * U, w = std::min<int64_t>(U, H - v0);
            panel_product<T, decltype(NV)::value>(r1 - r0, d + r0 * ldz, ldz, G * H, packed.panel(q), z);
            for (int64_t b = r0; b < r1; ++b)
              if (p.position(s, b) >= 0) std::copy(z + (b - r0) * U, z + (b - r0) * U + w, a.dh0 + b * H + v0);
          }
        }
      };
      parallel_for_threads(split.threads, loop);
    });
  }
  gather_previous_states(p, a.outputs, a.h0, h_prev);
  weight_gradients(p, G, a.x, a.kernel, h_prev, dz, a.dx, a.dkernel, a.drecurrent_kernel, a.dbias);
}

template void lstm_forward<float>(const RnnProblem&, const LstmForward<float>&);
template void lstm_forward<double>(const RnnProblem&, const LstmForward<double>&);
template void lstm_backward<float>(const RnnProblem&, const LstmBackward<float>&);
template void lstm_backward<double>(const RnnProblem&, const LstmBackward<double>&);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
