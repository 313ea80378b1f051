// common.h: what every kernel shares: the problem description (shape letters T, B, D, H, G),
// activation names, and where a (position, batch) pair lives in a sequence array. No arithmetic
// beyond index helpers lives here.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define FASTRNN_HOST_DEVICE __host__ __device__  // RnnProblem's indexing is the CUDA kernels' too
#else
#define FASTRNN_HOST_DEVICE
#endif

namespace fastrnn {

// Same numbering as the Python layer's ACTIVATIONS tuple.
enum class Activation : int { Tanh = 0, Relu = 1, Sigmoid = 2, Linear = 3, HardSigmoid = 4 };

// One recurrent layer call (on the host; the CUDA kernels get it with device pointers). Sequence arrays (x, outputs, their gradients) are (T, B, *) when
// time_major, else (B, T, *); both are T*B contiguous rows. The LSTM's gate and cell caches are
// (T, B, *) either way.
//
// Which positions sequence b consumes, and in which order (the kernels ask position(s, b)):
// - order null: positions [start(b), start(b) + length(b)), first to last, or last to first
//   with reverse (left padding: starts; right padding: lengths);
// - order (B, T) (a mask with holes): order[b][0, length(b)) in turn; order_steps (B, T) is its
//   inverse (the step at which b consumes position p). reverse is already applied to order.
// Every other position is padding: the state carries over it and its output is zero. An ended
// step s >= length(b) stands for one padding position, padding_position(s, b), each once.
struct RnnProblem {
  int64_t T = 0;  // time steps
  int64_t B = 0;  // batch
  int64_t D = 0;  // input features
  int64_t H = 0;  // units
  bool time_major = false;
  bool reverse = false;                  // consume each sequence from its last valid position to its first
  const int32_t* lengths = nullptr;      // (B,) positions consumed, in [0, T], or null for all T
  const int32_t* starts = nullptr;       // (B,) first position consumed, or null for 0
  const int32_t* order = nullptr;        // (B, T) positions in the order consumed, or null
  const int32_t* order_steps = nullptr;  // (B, T) order's inverse; null when order is
  Activation activation = Activation::Tanh;
  Activation recurrent_activation = Activation::Sigmoid;  // LSTM gates i, f, o

  FASTRNN_HOST_DEVICE int64_t row(int64_t p, int64_t b) const { return time_major ? p * B + b : b * T + p; }
  FASTRNN_HOST_DEVICE int64_t cache_row(int64_t p, int64_t b) const { return p * B + b; }  // the LSTM caches' row
  FASTRNN_HOST_DEVICE int64_t length(int64_t b) const { return lengths ? lengths[b] : T; }
  FASTRNN_HOST_DEVICE int64_t start(int64_t b) const { return starts ? starts[b] : 0; }

  // The position sequence b consumes at step s, or -1 once the sequence has ended.
  FASTRNN_HOST_DEVICE int64_t position(int64_t s, int64_t b) const {
    const int64_t L = length(b);
    if (s >= L) return -1;
    if (order) return order[b * T + s];
    return start(b) + (reverse ? L - 1 - s : s);
  }

  // The padding position an ended step s (>= length(b)) stands for.
  FASTRNN_HOST_DEVICE int64_t padding_position(int64_t s, int64_t b) const {
    if (order) return order[b * T + s];
    const int64_t leading = s - length(b);
    return leading < start(b) ? leading : s;
  }

  // The position consumed just before position p (consumed), or -1 when p was the first.
  FASTRNN_HOST_DEVICE int64_t previous_position(int64_t p, int64_t b) const {
    if (order) {
      const int64_t step = order_steps[b * T + p];
      return step > 0 ? order[b * T + step - 1] : -1;
    }
    if (!reverse) return p > start(b) ? p - 1 : -1;
    return p + 1 < start(b) + length(b) ? p + 1 : -1;
  }

  // Whether sequence b consumes position p.
  FASTRNN_HOST_DEVICE bool consumed(int64_t p, int64_t b) const {
    if (order) return order_steps[b * T + p] < length(b);
    return p >= start(b) && p < start(b) + length(b);
  }

  // The range of positions [first, first + count) holding every position b consumes.
  FASTRNN_HOST_DEVICE int64_t first_consumed(int64_t b) const { return order ? 0 : start(b); }
  FASTRNN_HOST_DEVICE int64_t consumed_count(int64_t b) const { return order ? T : length(b); }
};

}  // namespace fastrnn
