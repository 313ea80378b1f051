// optimizer_updates.cpp: the fused optimizer steps of optimizer_updates.h. Compiled with
// -ffp-contract=off (CMakeLists.txt): a multiply and an add fused into one FMA would round once
// where NumPy rounds twice. Large arrays (embedding tables) are split across the pool's threads;
// every element is computed alone, so the split does not change the bits.
#include "optimizer_updates.h"

#include <algorithm>
#include <cmath>

#include "pool.h"

namespace fastrnn {

namespace {
// f(i0, i1) over [0, n), in one share per thread when n is large enough to pay for waking them.
template <typename F>
void for_shares(int64_t n, F f) {
  const int threads = n >= (int64_t(1) << 18) ? pool_threads() : 1;
  auto job = [&](int t, int shares) { f(n * t / shares, n * (t + 1) / shares); };
  parallel_for_threads(threads, job);
}
}  // namespace

template <typename T>
void adam_update(int64_t n, T* w, const T* g, T* m, T* v, T c1, T c2, T alpha, T epsilon) {
  for_shares(n, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      m[i] = m[i] + c1 * (g[i] - m[i]);
      v[i] = v[i] + c2 * (g[i] * g[i] - v[i]);
      w[i] = w[i] - alpha * m[i] / (std::sqrt(v[i]) + epsilon);
    }
  });
}

template <typename T>
void rmsprop_update(int64_t n, T* w, const T* g, T* v, T rho, T c, T lr, T epsilon) {
  for_shares(n, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      v[i] = v[i] * rho;
      v[i] = v[i] + c * g[i] * g[i];
      w[i] = w[i] - lr * g[i] / std::sqrt(v[i] + epsilon);
    }
  });
}

template <typename T>
void momentum_update(int64_t n, T* w, const T* g, T* m, T momentum, T lr, bool nesterov) {
  for_shares(n, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      m[i] = m[i] * momentum;
      m[i] = m[i] - lr * g[i];
      w[i] = nesterov ? w[i] + (momentum * m[i] - lr * g[i]) : w[i] + m[i];
    }
  });
}

template void adam_update<float>(int64_t, float*, const float*, float*, float*, float, float, float, float);
template void adam_update<double>(int64_t, double*, const double*, double*, double*, double, double, double,
                                  double);
template void rmsprop_update<float>(int64_t, float*, const float*, float*, float, float, float, float);
template void rmsprop_update<double>(int64_t, double*, const double*, double*, double, double, double, double);
template void momentum_update<float>(int64_t, float*, const float*, float*, float, float, bool);
template void momentum_update<double>(int64_t, double*, const double*, double*, double, double, bool);

}  // namespace fastrnn
