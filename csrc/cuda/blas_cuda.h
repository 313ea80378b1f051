// blas_cuda.h: the two cuBLAS operations the kernels need, for row-major arrays (as NumPy's):
// a matrix product and nothing else. Only blas_cuda.cpp includes cuBLAS's headers, so the .cu
// files compile against the CUDA runtime alone. Not here: the column sums (step_common.cuh).
#pragma once
#include <cstdint>

#include "rnn_cuda.h"

namespace fastrnn {
namespace cuda {

// C (M,N) = alpha * op(A) @ op(B) + beta * C, all row-major with leading dimensions lda, ldb,
// ldc; op(A) is (M,K) (A is (K,M) when trans_a), op(B) is (K,N). K = 0 sets C = beta * C.
template <typename T>
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// cuBLAS's version as major * 10000 + minor * 100 + patch (cublasGetVersion).
int blas_version();

}  // namespace cuda
}  // namespace fastrnn
