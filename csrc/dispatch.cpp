// dispatch.cpp: CPU feature detection and the switch to the kernels of the chosen level.
#include "dispatch.h"

#include <atomic>
#include <stdexcept>

namespace fastrnn {

SimdLevel detected_simd_level() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return SimdLevel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::Avx2;
  return SimdLevel::Baseline;
}

namespace {
std::atomic<int> current_level{static_cast<int>(detected_simd_level())};
}

SimdLevel simd_level() { return static_cast<SimdLevel>(current_level.load()); }

void set_simd_level(SimdLevel level) {
  if (static_cast<int>(level) > static_cast<int>(detected_simd_level()))
    throw std::invalid_argument(std::string("SIMD level '") + simd_level_name(level) +
                                "' is not supported by this CPU (best: " +
                                simd_level_name(detected_simd_level()) + ")");
  current_level.store(static_cast<int>(level));
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    default: return "baseline";
  }
}

#define FASTRNN_DISPATCH(function, args_type)                             \
  template <typename T>                                                   \
  void function(const RnnProblem& p, const args_type<T>& a) {             \
    switch (simd_level()) {                                               \
      case SimdLevel::Avx512: return avx512::function<T>(p, a);           \
      case SimdLevel::Avx2: return avx2::function<T>(p, a);               \
      default: return baseline::function<T>(p, a);                       \
    }                                                                     \
  }                                                                       \
  template void function<float>(const RnnProblem&, const args_type<float>&); \
  template void function<double>(const RnnProblem&, const args_type<double>&);

FASTRNN_DISPATCH(simple_rnn_forward, SimpleRnnForward)
FASTRNN_DISPATCH(simple_rnn_backward, SimpleRnnBackward)
FASTRNN_DISPATCH(lstm_forward, LstmForward)
FASTRNN_DISPATCH(lstm_backward, LstmBackward)
FASTRNN_DISPATCH(gru_forward, GruForward)
FASTRNN_DISPATCH(gru_backward, GruBackward)
#undef FASTRNN_DISPATCH

template <typename T>
void activate_array(const T* x, T* y, int64_t n, Activation act) {
  switch (simd_level()) {
    case SimdLevel::Avx512: return avx512::activate_array<T>(x, y, n, act);
    case SimdLevel::Avx2: return avx2::activate_array<T>(x, y, n, act);
    default: return baseline::activate_array<T>(x, y, n, act);
  }
}
template void activate_array<float>(const float*, float*, int64_t, Activation);
template void activate_array<double>(const double*, double*, int64_t, Activation);

}  // namespace fastrnn
