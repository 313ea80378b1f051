// activations.h: the element-wise nonlinearities and their derivatives, applied to a strip of
// n values. float uses branch-free approximations that vectorize (exp: Cephes polynomial,
// tanh: Eigen's rational), double uses libm so float64 results match NumPy to ~1e-15.
// Derivatives are taken from the activated value y, which is what the caches keep.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"

namespace fastrnn {
namespace FASTRNN_ISA {  // one copy per SIMD level: inline code compiled with different flags

// The polynomials of the float approximations, for V = float or a GCC vector of floats
// (vector_math.h evaluates them lane for lane, so both paths give the same bits).
template <typename V>
inline V exp_polynomial(V r) {  // exp(r) for |r| <= ln2 / 2 (Cephes)
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

// tanh(xc) for xc in [-7.9, 7.9]: Eigen's minimax rational xc * p(x^2) / q(x^2), multiplied by xc
// last, so that tiny xc come out as xc * (1 - 1.3e-7) without a case of their own (xc * p first
// underflowed below ~1e-35).
template <typename V>
inline V tanh_rational(V xc) {
  const V x2 = xc * xc;
  V p = V{} + -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  V q = V{} + 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return xc * (p / q);
}

inline float exp_approx(float x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2 / 2; clamped so 2^n stays normal.
  const float xc = std::min(std::max(x, -87.0f), 88.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = xc * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float p = exp_polynomial(r);
  int32_t bits;
  std::memcpy(&bits, &t, 4);
  const int32_t scale_bits = (bits - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, 4);
  const float y = p * scale;
  return x != x ? x : y;  // NaN stays NaN
}

inline float tanh_approx(float x) {
  // Rational minimax approximation on [-7.9, 7.9] (beyond it tanh rounds to +-1 in float); NaN
  // stays NaN through the clamp.
  return tanh_rational(std::min(std::max(x, -7.90531110763549805f), 7.90531110763549805f));
}

inline float exp_of(float x) { return exp_approx(x); }
inline double exp_of(double x) { return std::exp(x); }
inline float tanh_of(float x) { return tanh_approx(x); }
inline double tanh_of(double x) { return std::tanh(x); }

// y[i] = act(y[i]) for i < n. One loop per activation so each vectorizes.
template <typename T>
inline void activate(T* __restrict y, int64_t n, Activation act) {
  switch (act) {
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = tanh_of(y[i]);
      break;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i], T(0));  // NaN propagates
      break;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = T(1) / (T(1) + exp_of(-y[i]));
      break;
    case Activation::Linear:
      break;
    case Activation::HardSigmoid:  // Keras 3: relu6(x + 3) / 6
      for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i] + T(3), T(0)), T(6)) / T(6);
      break;
  }
}

// g[i] *= act'(x) where y[i] = act(x): the chain rule through an activation.
template <typename T>
inline void times_derivative(T* __restrict g, const T* __restrict y, int64_t n, Activation act) {
  switch (act) {
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) g[i] *= T(1) - y[i] * y[i];
      break;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) g[i] *= y[i] > T(0) ? T(1) : T(0);  // NaN in g propagates
      break;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) g[i] *= y[i] * (T(1) - y[i]);
      break;
    case Activation::Linear:
      break;
    case Activation::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) g[i] *= (y[i] > T(0) && y[i] < T(1)) ? T(1) / T(6) : T(0);
      break;
  }
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
