// elementwise.cpp: activate_array (see elementwise.h), compiled once per SIMD level.
#include "elementwise.h"

#include <algorithm>

#include "activations.h"
#include "pool.h"

namespace fastrnn {
namespace FASTRNN_ISA {

template <typename T>
void activate_array(const T* x, T* y, int64_t n, Activation act) {
  const int threads = n >= (int64_t(1) << 18) ? pool_threads() : 1;  // threads only where they pay
  auto job = [&](int t, int shares) {
    const int64_t blocks = (n + lanes<T>() - 1) / lanes<T>();
    const int64_t i0 = std::min(n, blocks * t / shares * lanes<T>());
    const int64_t i1 = std::min(n, blocks * (t + 1) / shares * lanes<T>());
    for (int64_t i = i0; i < i1; i += lanes<T>()) {
      const int64_t w = std::min<int64_t>(lanes<T>(), i1 - i);
      store_lanes(y + i, activate_vector<T>(load_lanes(x + i, w), act), w);
    }
  };
  parallel_for_threads(threads, job);
}

template void activate_array<float>(const float*, float*, int64_t, Activation);
template void activate_array<double>(const double*, double*, int64_t, Activation);

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
