// blas.cpp: the only file that talks to OpenBLAS. Products with an empty dimension are
// answered here (C scaled by beta) because BLAS rejects leading dimensions of zero.
#include "blas.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "pool.h"

namespace fastrnn {

namespace {
template <typename T>
void scale_or_zero(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}
}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_or_zero(M, N, beta, C, ldc);
  scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, std::max<int64_t>(lda, 1),
                    B, std::max<int64_t>(ldb, 1), beta, C, std::max<int64_t>(ldc, 1));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                  const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                  double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_or_zero(M, N, beta, C, ldc);
  scipy_cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, std::max<int64_t>(lda, 1),
                    B, std::max<int64_t>(ldb, 1), beta, C, std::max<int64_t>(ldc, 1));
}

template <typename T>
void parallel_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const int threads = threads_for(product_micros(2.0 * M * N * K));
  if (threads > 1 && K >= 4 * std::max(M, N) && K >= 256 * threads) {
    // A sum over K much longer than the result (the weight gradients over all steps): split K,
    // so each thread packs only its share of A and B, then add the partial results in thread
    // order (same bits on every call with this thread count).
    std::vector<T> partial((threads - 1) * M * N);
    auto job = [&](int t, int n) {
      const int64_t k0 = K * t / n, k1 = K * (t + 1) / n;
      const T* a = trans_a ? A + k0 * lda : A + k0;
      const T* b = trans_b ? B + k0 : B + k0 * ldb;
      if (t == 0) gemm<T>(trans_a, trans_b, M, N, k1 - k0, alpha, a, lda, b, ldb, beta, C, ldc);
      else gemm<T>(trans_a, trans_b, M, N, k1 - k0, alpha, a, lda, b, ldb, T(0), partial.data() + (t - 1) * M * N, N);
    };
    parallel_for_threads(threads, job);
    for (int t = 1; t < threads; ++t)
      for (int64_t i = 0; i < M; ++i) {
        const T* src = partial.data() + ((t - 1) * M + i) * N;
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += src[j];
      }
    return;
  }
  const bool split_rows = M >= N;
  const int64_t extent = split_rows ? M : N;
  const int64_t blocks = (extent + 15) / 16;  // blocks of 16 rows/columns keep BLAS on full tiles
  auto job = [&](int t, int threads) {
    const int64_t begin = std::min(extent, blocks * t / threads * 16);
    const int64_t end = std::min(extent, blocks * (t + 1) / threads * 16);
    if (end <= begin) return;
    if (split_rows) {  // rows [begin, end) of op(A) and C
      const T* a = trans_a ? A + begin : A + begin * lda;
      gemm<T>(trans_a, trans_b, end - begin, N, K, alpha, a, lda, B, ldb, beta, C + begin * ldc, ldc);
    } else {  // columns [begin, end) of op(B) and C
      const T* b = trans_b ? B + begin * ldb : B + begin;
      gemm<T>(trans_a, trans_b, M, end - begin, K, alpha, A, lda, b, ldb, beta, C + begin, ldc);
    }
  };
  parallel_for_threads(static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(blocks, 1))), job);
}

template void parallel_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                   const float*, int64_t, float, float*, int64_t);
template void parallel_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                    const double*, int64_t, double, double*, int64_t);

void blas_init() { scipy_openblas_set_num_threads(1); }
int blas_threads() { return scipy_openblas_get_num_threads(); }
std::string blas_config() { return scipy_openblas_get_config(); }

}  // namespace fastrnn
