// elementwise.h: an activation applied to an array, with the recurrent kernels' own vector code
// (activations.h), so layers outside the recurrence (Dense) get the same bits, and the
// functions' accuracy can be measured from Python. One copy per SIMD level, like simple_rnn.h.
#pragma once
#include <cstdint>

#include "common.h"

namespace fastrnn {

#define FASTRNN_DECLARE_ELEMENTWISE(isa)                                       \
  namespace isa {                                                              \
  template <typename T>                                                        \
  void activate_array(const T* x, T* y, int64_t n, Activation act); /* y = act(x); y may be x */ \
  }
FASTRNN_DECLARE_ELEMENTWISE(baseline)
FASTRNN_DECLARE_ELEMENTWISE(avx2)
FASTRNN_DECLARE_ELEMENTWISE(avx512)
#undef FASTRNN_DECLARE_ELEMENTWISE

}  // namespace fastrnn
