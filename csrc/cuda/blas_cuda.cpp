// blas_cuda.cpp: cuBLAS behind blas_cuda.h: row-major products mapped onto column-major cuBLAS
// (C^T = op(B)^T op(A)^T), one handle per thread and device, float and double. The only file
// that includes cuBLAS; plain full-precision math (no TF32), as the tests expect.
#include "blas_cuda.h"

#include <cublas_v2.h>

#include <climits>
#include <map>
#include <stdexcept>
#include <string>

#include "cuda_check.h"

namespace fastrnn {
namespace cuda {

namespace {

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("fastrnn cuda: ") + what + " failed: " + cublasGetStatusString(status));
}

int as_int(int64_t v, const char* name) {
  if (v < 0 || v > INT_MAX) throw std::runtime_error(std::string("fastrnn cuda: matrix dimension ") + name + " too large for cuBLAS");
  return static_cast<int>(v);
}

struct Handles {
  std::map<int, cublasHandle_t> by_device;
  ~Handles() {
    for (auto& entry : by_device) cublasDestroy(entry.second);
  }
};

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                         float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* A, int lda, const double* B, int ldb, const double* beta,
                         double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

cublasContext* blas_handle() {
  thread_local Handles handles;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  auto found = handles.by_device.find(device);
  if (found != handles.by_device.end()) return found->second;
  cublasHandle_t h = nullptr;
  check_blas(cublasCreate(&h), "cublasCreate");
  check_blas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  handles.by_device[device] = h;
  return h;
}

template <typename T>
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 && beta == T(0)) {  // an empty sum: C = 0, whatever cuBLAS does with k = 0
    check(cudaMemset2DAsync(C, ldc * sizeof(T), 0, N * sizeof(T), M, ctx.stream), "cudaMemset2DAsync");
    return;
  }
  check_blas(cublasSetStream(ctx.blas, ctx.stream), "cublasSetStream");
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  check_blas(gemm_call(ctx.blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                       as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B, as_int(ldb, "ldb"), A,
                       as_int(lda, "lda"), &beta, C, as_int(ldc, "ldc")),
             "cublas gemm");
}

int blas_version() {
  int version = 0;
  check_blas(cublasGetVersion(blas_handle(), &version), "cublasGetVersion");
  return version;
}

template void gemm<float>(const Context&, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(const Context&, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace cuda
}  // namespace fastrnn
