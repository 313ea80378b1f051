// denormals.h: subnormal floats flushed to zero for the duration of a kernel call. A gradient
// carried back through a long sequence with no gradient entering along the way (the last state
// only: Keras' return_sequences=False) shrinks step after step into the subnormal range, where
// every x86 multiply takes a microcode assist of ~100 cycles: LSTM (500, 128, 32, 32) backward
// took 147 ms instead of 14 (PyTorch, which does not flush by default, 199 ms). TensorFlow
// flushes them in its kernels the same way. Values below 1.2e-38 (float32) or 2.2e-308
// (float64) become zero, in inputs (DAZ) and results (FTZ).
#pragma once
#include <xmmintrin.h>

namespace fastrnn {

class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushDenormals() { _mm_setcsr(saved_); }  // the caller's (NumPy's) mode back
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
  static constexpr unsigned kFlushToZero = 1u << 15, kDenormalsAreZero = 1u << 6;  // MXCSR bits

 private:
  const unsigned saved_;
};

}  // namespace fastrnn
