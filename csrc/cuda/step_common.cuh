// step_common.cuh: device code shared by simple_rnn.cu and lstm.cu: the activations (same
// formulas as reference.py, derivatives from the activated value), where step s of sequence b
// reads (RnnProblem's rules on the device), and the two cell-independent kernels run outside
// the time loop: gathering each position's previous state, and the column sums for dbias.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../common.h"
#include "cuda_check.h"

namespace fastrnn {
namespace cuda {

constexpr int kThreads = 256;  // threads per block of the element-wise kernels

inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

template <typename T>
__device__ __forceinline__ T activate(T z, Activation act) {
  switch (act) {
    case Activation::Tanh: return tanh(z);
    case Activation::Relu: return z > T(0) ? z : (z != z ? z : T(0));  // NaN propagates
    case Activation::Sigmoid: return T(1) / (T(1) + exp(-z));
    case Activation::HardSigmoid: return fmin(fmax(z + T(3), T(0)), T(6)) / T(6);
    default: return z;  // linear
  }
}

// grad * act'(z), written with y = act(z).
template <typename T>
__device__ __forceinline__ T times_derivative(T grad, T y, Activation act) {
  switch (act) {
    case Activation::Tanh: return grad * (T(1) - y * y);
    case Activation::Relu: return grad * (y > T(0) ? T(1) : T(0));
    case Activation::Sigmoid: return grad * (y * (T(1) - y));
    case Activation::HardSigmoid: return grad * ((y > T(0) && y < T(1)) ? T(1) / T(6) : T(0));
    default: return grad;
  }
}

// The problem's indexing on the device: common.h's RnnProblem (its pointers device pointers).
using Steps = RnnProblem;

// state_prev (T*B, H): per position, the state its step consumed (from the per-position states
// and the initial state); zero at the positions the sequence does not consume.
template <typename T>
__global__ void gather_previous_states_kernel(Steps st, int64_t H, const T* __restrict__ states,
                                              const T* __restrict__ initial, T* __restrict__ state_prev) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= st.T * st.B * H) return;
  const int64_t r = idx / H, j = idx - r * H;
  const int64_t pos = st.time_major ? r / st.B : r % st.T;
  const int64_t b = st.time_major ? r % st.B : r / st.T;
  T value = T(0);
  if (st.consumed(pos, b)) {
    const int64_t prev = st.previous_position(pos, b);
    value = prev < 0 ? initial[b * H + j] : states[st.row(prev, b) * H + j];
  }
  state_prev[idx] = value;
}

template <typename T>
void gather_previous_states(const RnnProblem& p, const T* states, const T* initial, T* state_prev,
                            cudaStream_t stream) {
  const int64_t n = p.T * p.B * p.H;
  if (n == 0) return;
  gather_previous_states_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(Steps(p), p.H, states, initial, state_prev);
  check_launch("gather_previous_states_kernel");
}

// out (chunks, cols): the column sums of A (rows, cols; row stride lda) over row chunk blockIdx.y
// of rows_per rows. Block (32, 8) owns 32 columns; each thread sums a strided share of the chunk in a fixed
// order, then the 8 partial sums are added in a fixed order: results do not depend on timing.
template <typename T>
__global__ void column_sums_kernel(int64_t rows, int64_t cols, int64_t rows_per, const T* __restrict__ A,
                                   int64_t lda, T* __restrict__ out) {
  __shared__ T partial[8][33];
  const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per;
  const int64_t end = begin + rows_per < rows ? begin + rows_per : rows;
  T sum = T(0);
  if (col < cols)
    for (int64_t r = begin + threadIdx.y; r < end; r += 8) sum += A[r * lda + col];
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    T total = T(0);
    for (int k = 0; k < 8; ++k) total += partial[k][threadIdx.x];
    out[blockIdx.y * cols + col] = total;
  }
}

// out (cols,) = column sums of A (rows, cols; row stride lda, default cols): per-chunk sums into
// scratch, then their sum.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* A, T* out, cudaStream_t stream, int64_t lda = 0) {
  if (lda == 0) lda = cols;
  if (cols == 0) return;
  const unsigned col_blocks = static_cast<unsigned>((cols + 31) / 32);
  const int64_t rows_per = 256;
  const int64_t chunks = (rows + rows_per - 1) / rows_per;
  if (chunks <= 1) {
    column_sums_kernel<T><<<dim3(col_blocks, 1), dim3(32, 8), 0, stream>>>(rows, cols, rows, A, lda, out);
    check_launch("column_sums_kernel");
    return;
  }
  Scratch<T> partial(chunks * cols, stream);
  column_sums_kernel<T><<<dim3(col_blocks, static_cast<unsigned>(chunks)), dim3(32, 8), 0, stream>>>(
      rows, cols, rows_per, A, lda, partial.get());
  check_launch("column_sums_kernel");
  column_sums_kernel<T><<<dim3(col_blocks, 1), dim3(32, 8), 0, stream>>>(chunks, cols, chunks, partial.get(), cols,
                                                                         out);
  check_launch("column_sums_kernel");
}

}  // namespace cuda
}  // namespace fastrnn
