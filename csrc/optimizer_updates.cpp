// optimizer_updates.cpp: the fused optimizer steps of optimizer_updates.h. Compiled with
// -ffp-contract=off (CMakeLists.txt): a multiply and an add fused into one FMA would round once
// where NumPy rounds twice. Large updates (embedding tables) are split across the pool's threads;
// every element is computed alone, so the split does not change the bits.
#include "optimizer_updates.h"

#include <cmath>

#include "pool.h"

namespace fastrnn {

namespace {
// f(w_offset, g_offset, count) over what a step updates: the n values, one share per thread, or
// row rows[i] of the table (w_offset rows[i] * dim) with gradient row i (g_offset i * dim).
// Threads only when the update is large enough to pay for waking them.
template <typename F>
void for_parts(int64_t n, const int64_t* rows, int64_t dim, F f) {
  const int threads = (rows ? n * dim : n) >= (int64_t(1) << 18) ? pool_threads() : 1;
  auto job = [&](int t, int shares) {
    const int64_t i0 = n * t / shares, i1 = n * (t + 1) / shares;
    if (!rows) return f(i0, i0, i1 - i0);
    for (int64_t i = i0; i < i1; ++i) f(rows[i] * dim, i * dim, dim);
  };
  parallel_for_threads(threads, job);
}
}  // namespace

template <typename T>
void adam_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T* v, T c1, T c2, T alpha,
                 T epsilon) {
  for_parts(n, rows, dim, [=](int64_t at, int64_t from, int64_t count) {
    T *pw = w + at, *pm = m + at, *pv = v + at;
    const T* pg = g + from;
    for (int64_t i = 0; i < count; ++i) {
      pm[i] = pm[i] + c1 * (pg[i] - pm[i]);
      pv[i] = pv[i] + c2 * (pg[i] * pg[i] - pv[i]);
      pw[i] = pw[i] - alpha * pm[i] / (std::sqrt(pv[i]) + epsilon);
    }
  });
}

template <typename T>
void rmsprop_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* v, T rho, T c, T lr,
                    T epsilon) {
  for_parts(n, rows, dim, [=](int64_t at, int64_t from, int64_t count) {
    T *pw = w + at, *pv = v + at;
    const T* pg = g + from;
    for (int64_t i = 0; i < count; ++i) {
      pv[i] = pv[i] * rho;
      pv[i] = pv[i] + c * pg[i] * pg[i];
      pw[i] = pw[i] - lr * pg[i] / std::sqrt(pv[i] + epsilon);
    }
  });
}

template <typename T>
void momentum_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T momentum, T lr,
                     bool nesterov) {
  for_parts(n, rows, dim, [=](int64_t at, int64_t from, int64_t count) {
    T *pw = w + at, *pm = m + at;
    const T* pg = g + from;
    for (int64_t i = 0; i < count; ++i) {
      pm[i] = pm[i] * momentum;
      pm[i] = pm[i] - lr * pg[i];
      pw[i] = nesterov ? pw[i] + (momentum * pm[i] - lr * pg[i]) : pw[i] + pm[i];
    }
  });
}

template void adam_update<float>(int64_t, const int64_t*, int64_t, float*, const float*, float*, float*, float,
                                 float, float, float);
template void adam_update<double>(int64_t, const int64_t*, int64_t, double*, const double*, double*, double*, double,
                                  double, double, double);
template void rmsprop_update<float>(int64_t, const int64_t*, int64_t, float*, const float*, float*, float, float,
                                    float, float);
template void rmsprop_update<double>(int64_t, const int64_t*, int64_t, double*, const double*, double*, double,
                                     double, double, double);
template void momentum_update<float>(int64_t, const int64_t*, int64_t, float*, const float*, float*, float, float,
                                     bool);
template void momentum_update<double>(int64_t, const int64_t*, int64_t, double*, const double*, double*, double,
                                      double, bool);

}  // namespace fastrnn
