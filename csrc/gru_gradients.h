// gru_gradients.h: the GRU's products over all positions after backward's time loop, from dz
// (T*B, 4H) per position, [dah | dz | dr | dah * r] (reset_before: the last block unused), dah the
// gradient at the h gate's pre-activation:
//   dx = [dah | dz | dr] @ kernel^T (kernel's gate blocks taken in that order: h, z, r);
//   dkernel, dbias = [x | 1]^T @ [dah | dz | dr], blocks put back in the order z, r, h;
//   reset_after: drecurrent_kernel, drecurrent_bias = [h_{t-1} | 1]^T @ [dz | dr | dah * r];
//   reset_before: its z, r blocks = h_{t-1}^T @ [dz | dr], its h block = (r * h_{t-1})^T @ dah.
// All are OpenBLAS products (parallel_gemm) on column windows of dz and of the gathered inputs.
#pragma once
#include <algorithm>

#include "blas.h"
#include "gru.h"
#include "weight_gradients.h"

namespace fastrnn {
namespace FASTRNN_ISA {

template <typename T>
class GruGradients {
 public:
  GruGradients(const RnnProblem& p, const GruBackward<T>& a)
      : p_(p), a_(a), memory_(p.T * p.B * 4 * p.H * static_cast<int64_t>(sizeof(T))), dz(memory_.as<T>()) {}

  // Columns [from, to) of every gate block of a (rows, 3H) matrix, copied with the blocks reordered
  // from h, z, r (dz's first three) to z, r, h (the weights'), or back.
  static void reorder(const T* in, int64_t rows, int64_t H, T* out, bool to_weights) {
    constexpr int kWeightsBlock[3] = {2, 0, 1};  // dz block k holds the gate kWeightsBlock[k] of z, r, h
    for (int64_t i = 0; i < rows; ++i)
      for (int k = 0; k < 3; ++k) {
        const int64_t from = (to_weights ? k : kWeightsBlock[k]) * H, to = (to_weights ? kWeightsBlock[k] : k) * H;
        std::copy(in + i * 3 * H + from, in + i * 3 * H + from + H, out + i * 3 * H + to);
      }
  }

  void finish() {
    const int64_t D = p_.D, H = p_.H, N = 3 * H, rows = p_.T * p_.B, K = D + H + 1, ldz = 4 * H;
    Scratch inputs_memory(rows * K * static_cast<int64_t>(sizeof(T)));
    T* inputs = inputs_memory.as<T>();  // [x | h_{t-1} | 1] per position
    gather_gradient_inputs(p_, a_.x, a_.outputs, a_.h0, inputs, false);
    Scratch staging_memory((std::max(D, H) + 1) * N * static_cast<int64_t>(sizeof(T)));
    T* staging = staging_memory.as<T>();
    if (a_.dx) {  // kernel's blocks in dz's order, then one product
      reorder(a_.kernel, D, H, staging, false);
      parallel_gemm<T>(false, true, rows, D, N, T(1), dz, ldz, staging, N, T(0), a_.dx, D);
    }
    // dkernel and dbias: [x | 1]^T @ dz's first three blocks, reordered
    parallel_gemm<T>(true, false, D, N, rows, T(1), inputs, K, dz, ldz, T(0), staging, N);
    parallel_gemm<T>(true, false, 1, N, rows, T(1), inputs + D + H, K, dz, ldz, T(0), staging + D * N, N);
    reorder(staging, D, H, a_.dkernel, true);
    reorder(staging + D * N, 1, H, a_.dbias, true);
    if (a_.reset_after) {
      parallel_gemm<T>(true, false, H, N, rows, T(1), inputs + D, K, dz + H, ldz, T(0), a_.drecurrent_kernel, N);
      parallel_gemm<T>(true, false, 1, N, rows, T(1), inputs + D + H, K, dz + H, ldz, T(0), a_.drecurrent_bias, N);
      return;
    }
    // reset_before: z and r blocks from h_{t-1}; the h block from r * h_{t-1}, gathered into the
    // inputs' h columns from the gate cache's last block (time-major) at the same rows as dz
    parallel_gemm<T>(true, false, H, 2 * H, rows, T(1), inputs + D, K, dz + H, ldz, T(0), staging, 2 * H);
    for (int64_t i = 0; i < H; ++i)
      std::copy(staging + i * 2 * H, staging + (i + 1) * 2 * H, a_.drecurrent_kernel + i * N);
    for (int64_t b = 0; b < p_.B; ++b)  // padding positions keep gather_gradient_inputs' zeros
      for (int64_t pos = 0; pos < p_.T; ++pos)
        if (p_.consumed(pos, b)) std::copy_n(a_.gates + (p_.cache_row(pos, b) * 4 + 3) * H, H, inputs + p_.row(pos, b) * K + D);
    parallel_gemm<T>(true, false, H, H, rows, T(1), inputs + D, K, dz, ldz, T(0), staging, H);
    for (int64_t i = 0; i < H; ++i) std::copy_n(staging + i * H, H, a_.drecurrent_kernel + i * N + 2 * H);
  }

 private:
  const RnnProblem& p_;
  const GruBackward<T>& a_;
  Scratch memory_;

 public:
  T* const dz;  // (T*B, 4H) in x's layout
};

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
