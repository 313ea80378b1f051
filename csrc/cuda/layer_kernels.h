// layer_kernels.h: the CUDA twins of the layers' kernels in fastrnn.ops besides the recurrent
// ones: activations, table rows (an embedding's lookup and sparse gradient) and the optimizer
// steps. Pointers are device memory; work is queued on ctx.stream. The matrix product is
// blas_cuda.h's gemm. Compiled without fused multiply-adds (-fmad=false), so the optimizer steps
// round as their NumPy twins do.
#pragma once
#include <cstdint>

#include "rnn_cuda.h"

namespace fastrnn {
namespace cuda {

// y (n,) = act(x); y may be x.
template <typename T>
void activate_array(const Context& ctx, const T* x, T* y, int64_t n, Activation act);

// out (n, dim) = rows ids[0, n) of table (input_dim, dim).
template <typename T>
void gather_rows(const Context& ctx, int64_t n, const int64_t* ids, const T* table, int64_t dim, T* out);

// values (m, dim): values[j] = the sum of dy's rows order[segments[j]], ..., order[segments[j+1] - 1],
// added in that order (segments (m + 1,), order (n,): the occurrences of each distinct id).
template <typename T>
void sum_rows(const Context& ctx, int64_t m, const int64_t* segments, const int64_t* order, const T* dy,
              int64_t dim, T* values);

// The optimizer steps of ops.adam_update, rmsprop_update and momentum_update, in place, on all
// n values of w (rows null) or on rows rows[0, n) of w (dim values each; g holds n rows).
template <typename T>
void adam_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T* v, T c1,
                 T c2, T alpha, T epsilon);
template <typename T>
void rmsprop_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* v, T rho,
                    T c, T lr, T epsilon);
template <typename T>
void momentum_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m,
                     T momentum, T lr, bool nesterov);

}  // namespace cuda
}  // namespace fastrnn
