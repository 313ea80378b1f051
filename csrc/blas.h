// blas.h: the matrix products fastrnn needs, row-major, forwarded to OpenBLAS (scipy-openblas32),
// split across fastrnn's threads, and the BLAS configuration. Nothing here allocates.
#pragma once
#include <cstdint>
#include <string>

namespace fastrnn {

// C (M, N) = alpha * op(A) @ op(B) + beta * C, row-major; op transposes when trans_* is set.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The same product split into blocks of rows or columns (whichever is longer), or of K when K is
// much longer than both, one block per pool thread (pool.h), each a single-threaded BLAS call.
// fastrnn keeps OpenBLAS single-threaded (blas_init) so only one thread pool ever runs: two
// pools spinning on two cores starve each other.
template <typename T>
void parallel_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

void blas_init();  // makes OpenBLAS single-threaded; called once when the module loads
int blas_threads();
std::string blas_config();

}  // namespace fastrnn
