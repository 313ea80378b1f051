// layer_kernels.cu: the kernels of layer_kernels.h, one thread per value.
#include <cmath>

#include "layer_kernels.h"
#include "step_common.cuh"

namespace fastrnn {
namespace cuda {

namespace {

template <typename T>
__global__ void activate_kernel(const T* __restrict__ x, T* y, int64_t n, Activation act) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = activate(x[i], act);
}

template <typename T>
__global__ void gather_rows_kernel(int64_t n, const int64_t* __restrict__ ids, const T* __restrict__ table,
                                   int64_t dim, T* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * dim) out[i] = table[ids[i / dim] * dim + i % dim];
}

template <typename T>
__global__ void sum_rows_kernel(int64_t m, const int64_t* __restrict__ segments, const int64_t* __restrict__ order,
                                const T* __restrict__ dy, int64_t dim, T* __restrict__ values) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= m * dim) return;
  const int64_t j = i / dim, d = i % dim;
  T sum = T(0);
  for (int64_t k = segments[j]; k < segments[j + 1]; ++k) sum += dy[order[k] * dim + d];
  values[i] = sum;
}

// (w offset, g offset) of value i of an update: all of w, or rows of it.
__device__ __forceinline__ void offsets(int64_t i, const int64_t* rows, int64_t dim, int64_t& wi, int64_t& gi) {
  gi = i;
  wi = rows ? rows[i / dim] * dim + i % dim : i;
}

template <typename T>
__global__ void adam_kernel(int64_t count, const int64_t* __restrict__ rows, int64_t dim, T* w, const T* g, T* m, T* v,
                            T c1, T c2, T alpha, T epsilon) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  int64_t wi, gi;
  offsets(i, rows, dim, wi, gi);
  const T gv = g[gi];
  m[wi] += c1 * (gv - m[wi]);
  v[wi] += c2 * (gv * gv - v[wi]);
  w[wi] -= alpha * m[wi] / (sqrt(v[wi]) + epsilon);
}

template <typename T>
__global__ void rmsprop_kernel(int64_t count, const int64_t* __restrict__ rows, int64_t dim, T* w, const T* g, T* v,
                               T rho, T c, T lr, T epsilon) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  int64_t wi, gi;
  offsets(i, rows, dim, wi, gi);
  const T gv = g[gi];
  v[wi] *= rho;
  v[wi] += c * gv * gv;
  w[wi] -= lr * gv / sqrt(v[wi] + epsilon);
}

template <typename T>
__global__ void momentum_kernel(int64_t count, const int64_t* __restrict__ rows, int64_t dim, T* w, const T* g, T* m,
                                T momentum, T lr, bool nesterov) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  int64_t wi, gi;
  offsets(i, rows, dim, wi, gi);
  const T gv = g[gi];
  m[wi] *= momentum;
  m[wi] -= lr * gv;
  w[wi] += nesterov ? momentum * m[wi] - lr * gv : m[wi];
}

}  // namespace

template <typename T>
void activate_array(const Context& ctx, const T* x, T* y, int64_t n, Activation act) {
  if (n == 0) return;
  activate_kernel<T><<<blocks_for(n), kThreads, 0, ctx.stream>>>(x, y, n, act);
  check_launch("activate_kernel");
}

template <typename T>
void gather_rows(const Context& ctx, int64_t n, const int64_t* ids, const T* table, int64_t dim, T* out) {
  if (n * dim == 0) return;
  gather_rows_kernel<T><<<blocks_for(n * dim), kThreads, 0, ctx.stream>>>(n, ids, table, dim, out);
  check_launch("gather_rows_kernel");
}

template <typename T>
void sum_rows(const Context& ctx, int64_t m, const int64_t* segments, const int64_t* order, const T* dy, int64_t dim,
              T* values) {
  if (m * dim == 0) return;
  sum_rows_kernel<T><<<blocks_for(m * dim), kThreads, 0, ctx.stream>>>(m, segments, order, dy, dim, values);
  check_launch("sum_rows_kernel");
}

template <typename T>
void adam_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T* v, T c1,
                 T c2, T alpha, T epsilon) {
  const int64_t count = rows ? n * dim : n;
  if (count == 0) return;
  adam_kernel<T><<<blocks_for(count), kThreads, 0, ctx.stream>>>(count, rows, dim, w, g, m, v, c1, c2, alpha, epsilon);
  check_launch("adam_kernel");
}

template <typename T>
void rmsprop_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* v, T rho,
                    T c, T lr, T epsilon) {
  const int64_t count = rows ? n * dim : n;
  if (count == 0) return;
  rmsprop_kernel<T><<<blocks_for(count), kThreads, 0, ctx.stream>>>(count, rows, dim, w, g, v, rho, c, lr, epsilon);
  check_launch("rmsprop_kernel");
}

template <typename T>
void momentum_update(const Context& ctx, int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m,
                     T momentum, T lr, bool nesterov) {
  const int64_t count = rows ? n * dim : n;
  if (count == 0) return;
  momentum_kernel<T><<<blocks_for(count), kThreads, 0, ctx.stream>>>(count, rows, dim, w, g, m, momentum, lr,
                                                                      nesterov);
  check_launch("momentum_kernel");
}

#define FASTRNN_INSTANTIATE(T)                                                                                    \
  template void activate_array<T>(const Context&, const T*, T*, int64_t, Activation);                              \
  template void gather_rows<T>(const Context&, int64_t, const int64_t*, const T*, int64_t, T*);                    \
  template void sum_rows<T>(const Context&, int64_t, const int64_t*, const int64_t*, const T*, int64_t, T*);      \
  template void adam_update<T>(const Context&, int64_t, const int64_t*, int64_t, T*, const T*, T*, T*, T, T, T, T); \
  template void rmsprop_update<T>(const Context&, int64_t, const int64_t*, int64_t, T*, const T*, T*, T, T, T, T); \
  template void momentum_update<T>(const Context&, int64_t, const int64_t*, int64_t, T*, const T*, T*, T, T, bool);
FASTRNN_INSTANTIATE(float)
FASTRNN_INSTANTIATE(double)
#undef FASTRNN_INSTANTIATE

}  // namespace cuda
}  // namespace fastrnn
