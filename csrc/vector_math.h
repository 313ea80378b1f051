// vector_math.h: the activations of activations.h applied to one whole SIMD vector (GCC vector
// extensions, so every SIMD level gets its own width), plus loads and stores of the first w
// lanes. float uses the same approximations as activations.h, lane for lane; double applies
// the libm strip functions. Used by the fused step epilogues.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <immintrin.h>

#include "activations.h"
#include "packed.h"

namespace fastrnn {
namespace FASTRNN_ISA {

typedef int32_t VInt __attribute__((vector_size(kVectorBytes)));

// like std::min(std::max(x, lo), hi), NaN staying NaN: MAXPS and MINPS return their second
// operand when either is NaN. (One instruction each, where GCC made a compare and a blend of
// `x < l ? l : x`: with exp's scaling below, the LSTM cell's five activations took 11% less time.)
template <typename V>
inline V clamp(V x, float lo, float hi) {
  const V l = V{} + lo, h = V{} + hi;
#if defined(__AVX512F__)
  return (V)_mm512_min_ps((__m512)h, _mm512_max_ps((__m512)l, (__m512)x));
#elif defined(__AVX__)
  return (V)_mm256_min_ps((__m256)h, _mm256_max_ps((__m256)l, (__m256)x));
#else
  return (V)_mm_min_ps((__m128)h, _mm_max_ps((__m128)l, (__m128)x));
#endif
}

template <typename V>
inline V exp_vector(V x) {  // exp_approx, lane for lane
  typedef typename Vec<float>::type VF;
  const VF xc = clamp(x, -87.0f, 88.0f);
  const VF t = xc * 1.44269504088896341f + 12582912.0f;
  const VF n = t - 12582912.0f;
  VF r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const VF p = exp_polynomial(r);  // NaN stays NaN: clamp keeps it, and so p is NaN
#if defined(__AVX512F__)
  return (VF)_mm512_scalef_ps((__m512)p, (__m512)n);  // p * 2^n in one instruction, same bits
#else
  const VInt scale_bits = ((VInt)t - 0x4B400000 + 127) << 23;
  return p * (VF)scale_bits;
#endif
}

template <typename V>
inline V tanh_vector(V x) {  // tanh_approx, lane for lane
  return tanh_rational(clamp(x, -7.90531110763549805f, 7.90531110763549805f));
}

// act(v) lane for lane.
template <typename T>
inline typename Vec<T>::type activate_vector(typename Vec<T>::type v, Activation act) {
  using V = typename Vec<T>::type;
  if constexpr (std::is_same_v<T, float>) {
    switch (act) {
      case Activation::Tanh: return tanh_vector(v);
      case Activation::Relu: return v < 0.0f ? V{} : v;  // NaN propagates
      case Activation::Sigmoid: return 1.0f / (1.0f + exp_vector(-v));
      case Activation::Linear: return v;
      case Activation::HardSigmoid: return clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f;
    }
    return v;
  } else {
    alignas(64) T y[lanes<T>()];
    std::memcpy(y, &v, sizeof(V));
    activate(y, lanes<T>(), act);
    std::memcpy(&v, y, sizeof(V));
    return v;
  }
}

// act'(x) lane for lane, from y = act(x) (times_derivative's factors).
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

// The first w lanes from p (the rest zero), and the first w lanes of v to p.
template <typename T>
inline typename Vec<T>::type load_lanes(const T* p, int64_t w) {
  typename Vec<T>::type v{};
  if (w >= lanes<T>()) std::memcpy(&v, p, sizeof(v));  // the common case: one vector load
  else std::memcpy(&v, p, w * sizeof(T));
  return v;
}
template <typename T>
inline void store_lanes(T* p, typename Vec<T>::type v, int64_t w) {
  if (w >= lanes<T>()) std::memcpy(p, &v, sizeof(v));
  else std::memcpy(p, &v, w * sizeof(T));
}

// store_lanes bypassing the caches where a whole aligned vector is written: for the per-position
// caches a step writes and only a later pass reads (LSTM gates and cells, backward's dz), whose
// lines would otherwise be read in first and evict the weights and states the steps reuse.
// Measured (LSTM training forward): 1.21-1.24x at (28, 128, 28, 128), 1.08x at
// (100, 64, 64, 1024); backward with dz streamed 1.14-1.19x at (500, 128, 32, 32), 1.05-1.08x at
// (100, 64, 512, 512). Other threads see them once the pool's job ends (pool.cpp fences).
template <typename T>
inline void stream_lanes(T* p, typename Vec<T>::type v, int64_t w) {
  using V = typename Vec<T>::type;
  if (w < lanes<T>() || reinterpret_cast<uintptr_t>(p) % sizeof(V) != 0) return store_lanes<T>(p, v, w);
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) _mm512_stream_ps(p, (__m512)v);
  else _mm512_stream_pd(p, (__m512d)v);
#elif defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) _mm256_stream_ps(p, (__m256)v);
  else _mm256_stream_pd(p, (__m256d)v);
#else
  if constexpr (std::is_same_v<T, float>) _mm_stream_ps(p, (__m128)v);
  else _mm_stream_pd(p, (__m128d)v);
#endif
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
