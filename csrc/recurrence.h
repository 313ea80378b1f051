// recurrence.h: the parts of a recurrent layer that do not depend on the cell, shared by
// simple_rnn.cpp and lstm.cpp (and so compiled once per SIMD level with them): the big
// products outside the time loop, the thread count for the loop, the gather of previous states
// and the column sums. The time loop is split by batch rows (common.h: row_range).
#pragma once
#include <omp.h>

#include <vector>

#include "blas.h"
#include "common.h"

namespace fastrnn {

// projection (T*B, G*H) = x (T*B, D) @ kernel (D, G*H), rows in x's layout. Bias is added later,
// in the fused step, so this is one plain product.
template <typename T>
inline void input_projection(const RnnProblem& p, int G, const T* x, const T* kernel, T* projection) {
  parallel_gemm<T>(false, false, p.T * p.B, G * p.H, p.D, T(1), x, p.D, kernel, G * p.H, T(0), projection,
                   G * p.H);
}

// Threads for the time loop: one per batch row at most.
inline int loop_threads(int64_t B) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), B)));
}

// state_prev (T*B, H): per position, the state the step consumed (h_{t-1} or c_{t-1}), taken from
// the per-position states and the initial state; zero at positions past a sequence's length.
template <typename T>
inline void gather_previous_states(const RnnProblem& p, const T* states, const T* initial, T* state_prev) {
  const int64_t H = p.H;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < p.B; ++b) {
    for (int64_t pos = 0; pos < p.T; ++pos) {
      T* dst = state_prev + p.row(pos, b) * H;
      if (pos >= p.length(b)) {
        std::fill(dst, dst + H, T(0));
        continue;
      }
      const int64_t prev = p.previous_position(pos, b);
      const T* src = prev < 0 ? initial + b * H : states + p.row(prev, b) * H;
      std::copy(src, src + H, dst);
    }
  }
}

// The products after the backward time loop, over all steps at once:
//   dx = dz @ kernel^T,  dkernel = x^T @ dz,  drecurrent_kernel = state_prev^T @ dz,
//   dbias = column sums of dz, with dz (T*B, G*H) the gradient at the pre-activations.
template <typename T>
inline void weight_gradients(const RnnProblem& p, int G, const T* x, const T* kernel, const T* state_prev,
                             const T* dz, T* dx, T* dkernel, T* drecurrent_kernel, T* dbias) {
  const int64_t rows = p.T * p.B, N = G * p.H;
  parallel_gemm<T>(false, true, rows, p.D, N, T(1), dz, N, kernel, N, T(0), dx, p.D);
  parallel_gemm<T>(true, false, p.D, N, rows, T(1), x, p.D, dz, N, T(0), dkernel, N);
  parallel_gemm<T>(true, false, p.H, N, rows, T(1), state_prev, p.H, dz, N, T(0), drecurrent_kernel, N);
  // Column sums split by column blocks: every sum runs in row order, whatever the threads.
  const int64_t block = 64;
#pragma omp parallel for schedule(static)
  for (int64_t j0 = 0; j0 < N; j0 += block) {
    const int64_t j1 = std::min(N, j0 + block);
    std::fill(dbias + j0, dbias + j1, T(0));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = j0; j < j1; ++j) dbias[j] += dz[r * N + j];
  }
}

}  // namespace fastrnn
