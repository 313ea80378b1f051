// activations.h: the element-wise nonlinearities (tanh, relu, sigmoid, linear, hard_sigmoid) on
// whole SIMD vectors of float or double, and their derivatives, taken from the activated value
// y (what the caches keep). Not libm: exp and tanh are evaluated here, the same way in every
// SIMD level (float's multiply-adds round once everywhere, double's twice everywhere: simd.h), so
// a result does not depend on the CPU. Measured error (bench/activation_error.py: every float32,
// a sample of float64): float32 within 2 ulp of the correctly rounded value, float64 within 3;
// exact at saturation (tanh -> +-1, sigmoid -> 0, 1); results below the smallest normal number
// follow the kernels' flush to zero (denormals.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "common.h"
#include "simd.h"

namespace fastrnn {
namespace FASTRNN_ISA {  // one copy per SIMD level: inline code compiled with different flags

// e^y through y = n ln2 + r with n an integer and |r| <= ln2 / 2 (Cody and Waite: ln2 in two parts,
// the first short enough that n * ln2_hi is exact), 2^n built from the integer's bits and
// expm1(r) from its Taylor polynomial.
template <typename T>
struct ExpConstants;
template <>
struct ExpConstants<float> {
  static constexpr float log2e = 1.44269504088896341f, shifter = 12582912.0f;  // 1.5 * 2^23: rounds to integers
  static constexpr float ln2 = 0.693147182f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr int mantissa_bits = 23, exponent_bias = 127;
  static constexpr float sigmoid_range = 88.3f;  // |x| beyond: sigmoid is 1, or below the smallest normal
  static constexpr float tanh_saturated = 9.5f;  // tanh rounds to +-1 from 9.01 on
  // expm1(r) = r + r^2 P(r), P of degree 5 fitted to minimise the relative error of expm1 (2.4e-10)
  // for |r| <= ln2 / 2
  static constexpr int terms = 6;
  static constexpr float coefficients[terms] = {0.5f, 0.1666666567325592f, 0.041666362434625626f,
                                                0.008333388715982437f, 0.0013940628850832582f,
                                                0.00019846302166115493f};
};
template <>
struct ExpConstants<double> {
  static constexpr double log2e = 1.4426950408889634, shifter = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double ln2 = 0.6931471805599453, ln2_hi = 6.93147180369123816490e-01,
                          ln2_lo = 1.90821492927058770002e-10;
  static constexpr int mantissa_bits = 52, exponent_bias = 1023;
  static constexpr double sigmoid_range = 709.0;
  static constexpr double tanh_saturated = 20.0;  // tanh rounds to +-1 from 19.06 on
  // P of degree 10 fitted to minimise the relative error of expm1 (9e-19) for |r| <= ln2 / 2
  static constexpr int terms = 11;
  static constexpr double coefficients[terms] = {
      0.5, 0.16666666666666677, 0.04166666666666651, 0.0083333333333217, 0.0013888888888962338,
      0.00019841269885942419, 2.4801587172567558e-05, 2.755724440108584e-06, 2.755740264882074e-07,
      2.5108968488569484e-08, 2.0875318539824796e-09};
};

// a * b + c: float rounds once, the same on every level (simd.h); double rounds twice everywhere
// (the baseline level has no exact fused multiply-add for double that would be fast enough).
template <typename V>
inline V multiply_add(V a, V b, V c) {
  if constexpr (std::is_same_v<V, Vec<float>::type>) return fused_multiply_add(a, b, c);
  else return a * b + c;
}

// e^y = 2^n (1 + q): scale = 2^n (n an integer, |y - n ln2| <= ln2 / 2; n in the normal range for
// the y the callers pass) and q = expm1(y - n ln2); 2^n q is exact, so what is built from it can
// round once.
template <typename T>
struct ExpParts {
  typename Vec<T>::type scale, q;
};

// precise_reduction: ln2 in two parts, for a relative error of e^y that does not grow with n; a y
// that is never positive (tanh's) can do with one, its error shrinking with e^y.
template <typename T, bool precise_reduction = true>
inline ExpParts<T> exp_parts(typename Vec<T>::type y) {
  using C = ExpConstants<T>;
  using V = typename Vec<T>::type;
  using Bits = typename Vec<T>::bits;
  const V t = multiply_add(y, V{} + C::log2e, V{} + C::shifter);  // n = the nearest integer, in t's low bits
  const V n = t - C::shifter;
  const V r = precise_reduction ? multiply_add(n, V{} - C::ln2_lo, multiply_add(n, V{} - C::ln2_hi, y))
                                : multiply_add(n, V{} - C::ln2, y);  // n * ln2_hi is exact; ln2 rounded
  V p = V{} + C::coefficients[C::terms - 1];
  for (int k = C::terms - 2; k >= 0; --k) p = multiply_add(p, r, V{} + C::coefficients[k]);
  const Bits n_bits = (Bits)t - (Bits)(V{} + C::shifter);
  return {(V)((n_bits + C::exponent_bias) << C::mantissa_bits), multiply_add(r * r, p, r)};
}

// sigmoid(x) = 1 / (1 + e^-x) = 1 / (2^n q + (2^n + 1)): the denominator rounds once, and nothing
// cancels for either sign of x. (Results below the smallest normal number: the callers' FTZ.)
template <typename T>
inline typename Vec<T>::type sigmoid_vector(typename Vec<T>::type x) {
  using C = ExpConstants<T>;
  using V = typename Vec<T>::type;
  const ExpParts<T> e = exp_parts<T>(clamp(-x, -C::sigmoid_range, C::sigmoid_range));  // NaN stays NaN
  return T(1) / multiply_add(e.scale, e.q, e.scale + T(1));
}

// tanh(x) = sign(x) -m / (m + 2) with m = expm1(-2|x|) = 2^n q + (2^n - 1) in (-1, 0], rounded once:
// no cancellation near zero (where 1 - 2 / (e^2x + 1) loses it). Past tanh_saturated, exactly +-1.
template <typename T>
inline typename Vec<T>::type tanh_vector(typename Vec<T>::type x) {
  using V = typename Vec<T>::type;
  using Bits = typename Vec<T>::bits;
  const Bits sign = Bits{} + std::numeric_limits<std::conditional_t<sizeof(T) == 4, int32_t, int64_t>>::min();
  const V a = clamp((V)((Bits)x & ~sign), T(0), ExpConstants<T>::tanh_saturated);  // |x|; NaN stays NaN
  const ExpParts<T> e = exp_parts<T, false>(a * T(-2));
  const V m = multiply_add(e.scale, e.q, e.scale - T(1));
  const V t = -m / (m + T(2));  // >= 0, but -0 for x = 0: x's sign replaces its sign
  return (V)(((Bits)t & ~sign) | ((Bits)x & sign));
}

// act(v) lane for lane.
template <typename T>
inline typename Vec<T>::type activate_vector(typename Vec<T>::type v, Activation act) {
  using V = typename Vec<T>::type;
  switch (act) {
    case Activation::Tanh: return tanh_vector<T>(v);
    case Activation::Relu: return v < T(0) ? V{} : v;  // NaN propagates
    case Activation::Sigmoid: return sigmoid_vector<T>(v);
    case Activation::Linear: return v;
    case Activation::HardSigmoid: return clamp(v + T(3), T(0), T(6)) / T(6);  // Keras 3: relu6(x + 3) / 6
  }
  return v;
}

// act'(x) lane for lane, from y = act(x).
template <typename T>
inline typename Vec<T>::type derivative_vector(typename Vec<T>::type y, Activation act) {
  using V = typename Vec<T>::type;
  const V one = V{} + T(1), zero = V{};
  switch (act) {
    case Activation::Tanh: return one - y * y;
    case Activation::Relu: return y > zero ? one : zero;
    case Activation::Sigmoid: return y * (one - y);
    case Activation::Linear: return one;
    case Activation::HardSigmoid: return (y > zero) & (y < one) ? V{} + T(1) / T(6) : zero;
  }
  return one;
}

// y[i] = act(y[i]) for i < n.
template <typename T>
inline void activate(T* y, int64_t n, Activation act) {
  if (act == Activation::Linear) return;
  for (int64_t i = 0; i < n; i += lanes<T>()) {
    const int64_t w = std::min<int64_t>(lanes<T>(), n - i);
    store_lanes(y + i, activate_vector<T>(load_lanes(y + i, w), act), w);
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
      for (int64_t i = 0; i < n; ++i) g[i] *= y[i] > T(0) ? T(1) : T(0);
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
