// simd.h: the SIMD vector of the level being compiled (GCC vector extensions: 16, 32 or 64 bytes
// for the baseline, avx2 and avx512 copies of the kernels), loads and stores of its first w
// lanes, stores that bypass the caches, a NaN-keeping clamp, and the explicit multiply-adds.
// The kernels are compiled with -ffp-contract=off: the compiler never fuses a multiply and an add
// on its own, so everything but the products' madd rounds the same way on every level.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace fastrnn {
namespace FASTRNN_ISA {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX2__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(kVectorBytes)));
  typedef int32_t bits __attribute__((vector_size(kVectorBytes)));  // same lanes, as integers
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(kVectorBytes)));
  typedef int64_t bits __attribute__((vector_size(kVectorBytes)));
};
template <typename T>
constexpr int lanes() {
  return kVectorBytes / static_cast<int>(sizeof(T));
}

// a * b + c. With FMA (avx2, avx512) in one rounding, else two: the products' inner loop, where
// fusing is the point (so their bits depend on the level).
template <typename V>
inline V madd(V a, V b, V c) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<V, Vec<float>::type>) return (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
  else return (V)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#elif defined(__FMA__)
  if constexpr (std::is_same_v<V, Vec<float>::type>) return (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
  else return (V)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#else
  return a * b + c;
#endif
}

// a * b + c on float vectors rounded once, with the same bits on every level, for the activations
// (activations.h): FMA on avx2 and avx512; on the baseline, computed in double (a * b exact),
// rounded to odd, then to float, which rounds the exact value once (Boldo and Melquiond, "When
// double rounding is odd": double has more than 24 + 2 bits).
inline Vec<float>::type fused_multiply_add(Vec<float>::type a, Vec<float>::type b, Vec<float>::type c) {
#if defined(__AVX512F__) || defined(__FMA__)
  return madd(a, b, c);
#else
  // SSE2 has no 64-bit compares or arithmetic shifts: lane masks come from double compares and
  // from each lane's high 32 bits, shifted and copied down
  auto rounded_to_odd = [](__m128d x, __m128d y, __m128d z) {  // x * y + z in double, rounded to odd
    const __m128d product = _mm_mul_pd(x, y), sum = _mm_add_pd(product, z);
    const __m128d back = _mm_sub_pd(sum, product);
    const __m128d error = _mm_add_pd(_mm_sub_pd(product, _mm_sub_pd(sum, back)), _mm_sub_pd(z, back));
    const __m128i bits = _mm_castpd_si128(sum);
    auto lane_mask = [](__m128i top_bit) { return _mm_shuffle_epi32(_mm_srai_epi32(top_bit, 31), 0xF5); };
    const __m128i odd = lane_mask(_mm_slli_epi64(bits, 63));
    const __m128i inexact = _mm_castpd_si128(_mm_cmpneq_pd(error, _mm_setzero_pd()));
    const __m128i finite = _mm_castpd_si128(_mm_cmpeq_pd(_mm_sub_pd(sum, sum), _mm_setzero_pd()));
    // inexact and even: one step to the odd neighbour, away from zero when the error has the sum's sign
    const __m128i toward_zero = lane_mask(_mm_xor_si128(_mm_castpd_si128(error), bits));
    const __m128i step = _mm_or_si128(toward_zero, _mm_set1_epi64x(1));  // -1 or +1
    const __m128i apply = _mm_andnot_si128(odd, _mm_and_si128(inexact, finite));
    return _mm_castsi128_pd(_mm_add_epi64(bits, _mm_and_si128(apply, step)));
  };
  const __m128 x = (__m128)a, y = (__m128)b, z = (__m128)c;
  const __m128d low = rounded_to_odd(_mm_cvtps_pd(x), _mm_cvtps_pd(y), _mm_cvtps_pd(z));
  const __m128d high = rounded_to_odd(_mm_cvtps_pd(_mm_movehl_ps(x, x)), _mm_cvtps_pd(_mm_movehl_ps(y, y)),
                                      _mm_cvtps_pd(_mm_movehl_ps(z, z)));
  return (Vec<float>::type)_mm_movelh_ps(_mm_cvtpd_ps(low), _mm_cvtpd_ps(high));
#endif
}

// min(max(x, lo), hi) lane for lane, NaN staying NaN: MAXPS/MINPS return their second operand
// when either is NaN, so x goes second. (One instruction each, where GCC made a compare and a
// blend of `x < l ? l : x`.)
template <typename V, typename S>
inline V clamp(V x, S lo, S hi) {
  const V l = V{} + lo, h = V{} + hi;
  constexpr bool single = sizeof(x[0]) == 4;
#if defined(__AVX512F__)
  if constexpr (single) return (V)_mm512_min_ps((__m512)h, _mm512_max_ps((__m512)l, (__m512)x));
  else return (V)_mm512_min_pd((__m512d)h, _mm512_max_pd((__m512d)l, (__m512d)x));
#elif defined(__AVX__)
  if constexpr (single) return (V)_mm256_min_ps((__m256)h, _mm256_max_ps((__m256)l, (__m256)x));
  else return (V)_mm256_min_pd((__m256d)h, _mm256_max_pd((__m256d)l, (__m256d)x));
#else
  if constexpr (single) return (V)_mm_min_ps((__m128)h, _mm_max_ps((__m128)l, (__m128)x));
  else return (V)_mm_min_pd((__m128d)h, _mm_max_pd((__m128d)l, (__m128d)x));
#endif
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
// Other threads see them once the pool's job ends (pool.cpp fences).
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

// out[0, n) = in[0, n), inline, a vector at a time: the rows the kernels copy at every step are
// short (x's D values, a panel's units), and so are the runs that packing copies, too short to
// pay for a call to memmove.
template <typename T>
inline void copy_values(const T* in, int64_t n, T* out) {
  int64_t j = 0;
  for (; j + lanes<T>() <= n; j += lanes<T>()) std::memcpy(out + j, in + j, kVectorBytes);
  for (; j < n; ++j) out[j] = in[j];
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
