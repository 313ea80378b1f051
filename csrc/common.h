// common.h: what every kernel shares: the problem description (shape letters T, B, D, H, G),
// activation names, and where a (position, batch) pair lives in a sequence array. No arithmetic
// beyond index helpers lives here.
#pragma once
#include <cstdint>

namespace fastrnn {

// Same numbering as the Python layer's ACTIVATIONS tuple.
enum class Activation : int { Tanh = 0, Relu = 1, Sigmoid = 2, Linear = 3, HardSigmoid = 4 };

// One recurrent layer call. Sequence arrays (x, outputs, their gradients, the LSTM caches)
// are (T, B, *) when time_major, else (B, T, *); both are T*B contiguous rows.
struct RnnProblem {
  int64_t T = 0;  // time steps
  int64_t B = 0;  // batch
  int64_t D = 0;  // input features
  int64_t H = 0;  // units
  bool time_major = false;
  bool reverse = false;             // consume each sequence from its last valid step to its first
  const int32_t* lengths = nullptr;  // (B,) valid steps per sequence in [0, T], or null for all T
  Activation activation = Activation::Tanh;
  Activation recurrent_activation = Activation::Sigmoid;  // LSTM gates i, f, o

  int64_t row(int64_t p, int64_t b) const { return time_major ? p * B + b : b * T + p; }
  int64_t length(int64_t b) const { return lengths ? lengths[b] : T; }

  // The input position sequence b consumes at step s, or -1 once the sequence has ended.
  int64_t position(int64_t s, int64_t b) const {
    const int64_t L = length(b);
    if (s >= L) return -1;
    return reverse ? L - 1 - s : s;
  }

  // The position consumed just before position p (valid), or -1 when p was the first.
  int64_t previous_position(int64_t p, int64_t b) const {
    if (!reverse) return p - 1;
    return p + 1 < length(b) ? p + 1 : -1;
  }
};

}  // namespace fastrnn
