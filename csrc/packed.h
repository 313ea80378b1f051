// packed.h: the recurrent weights packed once per call into column panels, and the micro-kernel
// that multiplies a few rows of states by one panel, leaving the tile on the stack for the
// cell's fused update. Compiled per SIMD level: the vector width follows the ISA macros.
// Every output element is one multiply-add chain over k in order, whatever the tiling or the
// thread split, so results are bitwise the same for any thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "scratch.h"
#include "simd.h"

namespace fastrnn {
namespace FASTRNN_ISA {

#if defined(__AVX512F__)
constexpr int kTileRows = 6;  // 6 rows x 4 vectors = 24 accumulators of 32 registers
#else
constexpr int kTileRows = 3;  // 12 accumulators of 16 registers
#endif

// Transposes a lanes x lanes block held as one vector per row. Block-recursive: at each level s,
// rows i and i + s (bit s of i clear) swap their off-diagonal s x s blocks, two two-vector
// shuffles per pair of rows (lanes * log2(lanes) shuffles in all, instead of a load and a store
// per value).
template <typename T>
inline void transpose_block(typename Vec<T>::type* rows) {
  using V = typename Vec<T>::type;
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> Index;
  typedef Index Mask __attribute__((vector_size(kVectorBytes)));
  constexpr int L = lanes<T>();
#pragma GCC unroll 4
  for (int s = L / 2; s >= 1; s /= 2) {
    Mask low, high;  // row i keeps its own left, takes row i + s's left; row i + s the rights
    for (int j = 0; j < L; ++j) {
      low[j] = (j & s) ? L + j - s : j;
      high[j] = (j & s) ? L + j : j + s;
    }
#pragma GCC unroll 16
    for (int i = 0; i < L; ++i) {
      if (i & s) continue;
      const V a = rows[i], b = rows[i + s];
      rows[i] = __builtin_shuffle(a, b, low);
      rows[i + s] = __builtin_shuffle(a, b, high);
    }
  }
}

// A (K, N) matrix rearranged into panels: panel q holds K rows of `vectors` * lanes values, the
// columns column_of(q, c) (zero where column_of is negative), 64-byte aligned.
template <typename T>
struct PackedPanels {
  int64_t K = 0, panels = 0;
  int vectors = 0, width = 0;
  std::unique_ptr<Scratch> memory;  // from the Weights arena: filled completely by fill()
  T* data = nullptr;
  const T* panel(int64_t q) const { return data + q * K * width; }
  int64_t bytes() const { return K * panels * width * static_cast<int64_t>(sizeof(T)); }

  void resize(int64_t k, int64_t n_panels, int n_vectors) {
    K = k, panels = n_panels, vectors = n_vectors, width = n_vectors * lanes<T>();
    memory.reset();
    memory = std::make_unique<Scratch>(bytes(), Arena::Weights);
    data = memory->as<T>();
  }

  // Fills panels [q0, q1): value (k, c) = source (k, col) with col = column_of(q, c), zero where col
  // is negative. A source stored by rows (Source::by_rows, source.row(k): row k's values) is
  // copied run by run of consecutive columns; one stored by columns (source.column(col): column
  // col's K values, e.g. a transposed matrix) a lanes x lanes block at a time, transposed in
  // registers (packing value by value took a tenth of a batch-1 call).
  template <typename ColumnOf, typename Source>
  void fill(int64_t q0, int64_t q1, ColumnOf column_of, const Source& source) {
    struct Run { int first, length; int64_t col; };  // columns [col, col + length) to [first, ...)
    std::vector<int64_t> cols(width);
    std::vector<Run> runs;  // of the panel being filled (by_rows sources)
    for (int64_t q = q0; q < q1; ++q) {
      T* dst = data + q * K * width;
      for (int c = 0; c < width; ++c) cols[c] = column_of(q, c);
      if constexpr (Source::by_rows) {
        runs.clear();
        for (int c = 0; c < width; ++c) {
          if (cols[c] < 0) continue;
          if (!runs.empty() && runs.back().first + runs.back().length == c &&
              runs.back().col + runs.back().length == cols[c]) ++runs.back().length;
          else runs.push_back({c, 1, cols[c]});
        }
        for (int64_t k = 0; k < K; ++k) {
          T* out = dst + k * width;
          const T* row = source.row(k);
          for (int c = 0; c < width; ++c) if (cols[c] < 0) out[c] = T(0);
          for (const Run& r : runs) copy_values(row + r.col, r.length, out + r.first);
        }
      } else {
        using V = typename Vec<T>::type;
        constexpr int L = lanes<T>();
        V block[L];  // lanes columns by lanes panel rows, transposed in registers
        for (int64_t k0 = 0; k0 < K; k0 += L) {
          const int64_t kn = std::min<int64_t>(L, K - k0);
          for (int c0 = 0; c0 < width; c0 += L) {
            for (int c = 0; c < L; ++c) {
              block[c] = V{};
              if (cols[c0 + c] < 0) continue;
              const T* column = source.column(cols[c0 + c]) + k0;
              if (kn == L) std::memcpy(&block[c], column, sizeof(V));  // a constant size: one load
              else std::memcpy(&block[c], column, kn * sizeof(T));
            }
            transpose_block<T>(block);
            for (int64_t k = 0; k < kn; ++k) std::memcpy(dst + (k0 + k) * width + c0, &block[k], sizeof(V));
          }
        }
      }
    }
  }
};

// A (K, N) matrix stored by columns for PackedPanels::fill: value (k, col) = matrix[col * ld + k],
// i.e. the transpose of a row-major (N, ld) matrix.
template <typename T>
struct Transposed {
  static constexpr bool by_rows = false;
  const T* matrix;
  int64_t ld;
  const T* column(int64_t col) const { return matrix + col * ld; }
};

// The register tile both products below use: c (M, w; row stride ldc) = (or += with accumulate)
// the sum over k < K of a(m, k) * b(k, :), a(m, k) = a[m * a_m + k * a_k], b(k, :) the NV vectors
// at b + k * b_k. Only the first w <= NV * lanes columns of c are read and written; every element
// is one multiply-add chain over k in order. Always inlined, so that each caller's constant
// strides give it its own loop (left a call, the forward tile ran 8-10% slower).
template <typename T, int M, int NV>
__attribute__((always_inline)) inline void tile_kernel(int64_t K, const T* __restrict a, int64_t a_m, int64_t a_k,
                                                       const T* __restrict b, int64_t b_k, T* __restrict c,
                                                       int64_t ldc, int w, bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int L = lanes<T>();
  auto bytes = [&](int v) {  // of vector v in c's rows: whole vectors but maybe the last
    return std::min<std::size_t>(sizeof(V), static_cast<std::size_t>(std::max(w - v * L, 0)) * sizeof(T));
  };
  V acc[M][NV];
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[m][v] = V{};
      if (!accumulate) continue;
      if (bytes(v) == sizeof(V)) std::memcpy(&acc[m][v], c + m * ldc + v * L, sizeof(V));
      else std::memcpy(&acc[m][v], c + m * ldc + v * L, bytes(v));
    }
  typedef T Unaligned __attribute__((vector_size(sizeof(V)), aligned(alignof(T)), may_alias));  // b's rows
  for (int64_t k = 0; k < K; ++k) {
    const Unaligned* bk = reinterpret_cast<const Unaligned*>(b + k * b_k);
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      const T am = a[m * a_m + k * a_k];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[m][v] = madd(V{} + am, (V)bk[v], acc[m][v]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (bytes(v) == sizeof(V)) std::memcpy(c + m * ldc + v * L, &acc[m][v], sizeof(V));
      else std::memcpy(c + m * ldc + v * L, &acc[m][v], bytes(v));
    }
}

// out (M, NV * lanes) = a (M, K; row stride lda) @ panel (K, NV * lanes), in registers; with
// accumulate, out += instead (the chain continues from the stored partial sums, same bits).
template <typename T, int M, int NV>
inline void tile_product(const T* a, int64_t lda, int64_t K, const T* panel, T* out, bool accumulate) {
  constexpr int W = NV * lanes<T>();
  tile_kernel<T, M, NV>(K, a, lda, 1, panel, W, out, W, W, accumulate);
}

// The same for a run-time row count m in [1, kTileRows].
template <typename T, int NV, int M = kTileRows>
inline void tile_product_rows(int m, const T* a, int64_t lda, int64_t K, const T* panel, T* out, bool accumulate) {
  if constexpr (M > 1) {
    if (m < M) return tile_product_rows<T, NV, M - 1>(m, a, lda, K, panel, out, accumulate);
  }
  tile_product<T, M, NV>(a, lda, K, panel, out, accumulate);
}

// z (rows, NV * lanes) = (or += with accumulate) a (rows, K) @ panel: row tiles over K in chunks
// of about chunk_bytes of the panel, so each chunk is read from L1 by every row tile (the whole
// panel may only fit L2; the hardware streamer brings the next chunk, software prefetch only
// slowed batch 1).
template <typename T, int NV>
inline void panel_product(int64_t rows, const T* a, int64_t lda, int64_t K, const T* panel, T* z,
                          bool accumulate = false, int64_t chunk_bytes = 24 * 1024) {
  constexpr int W = NV * lanes<T>();
  const int64_t per_chunk = std::max<int64_t>(32, chunk_bytes / (W * static_cast<int64_t>(sizeof(T))));
  const int64_t chunks = (K + per_chunk - 1) / per_chunk;  // 1 when the panel fits L1 already
  const int64_t chunk = std::max<int64_t>(1, chunks <= 2 ? K : (K + chunks - 1) / chunks);
  int64_t k0 = 0;
  do {  // at least once: a sum over K = 0 (no input features) is a tile of zeros
    const int64_t kn = std::min(chunk, K - k0);
    for (int64_t m0 = 0; m0 < rows; m0 += kTileRows) {
      const int m = static_cast<int>(std::min<int64_t>(kTileRows, rows - m0));
      tile_product_rows<T, NV>(m, a + m0 * lda + k0, lda, kn, panel + k0 * W, z + m0 * W, accumulate || k0 > 0);
    }
    k0 += chunk;
  } while (k0 < K);
}

// c (M, w; row stride ldc) = (or += with accumulate) a^T @ b over n rows, in registers: a (n, M;
// row stride lda) holds the M rows of the left factor as columns, b (n, NV * lanes; row stride ldb).
template <typename T, int M, int NV>
inline void transposed_tile_product(int64_t n, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc,
                                    int w, bool accumulate) {
  tile_kernel<T, M, NV>(n, a, 1, lda, b, ldb, c, ldc, w, accumulate);
}

// The same for a run-time row count m in [1, kTileRows].
template <typename T, int NV, int M = kTileRows>
inline void transposed_tile_rows(int m, int64_t n, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                                 int64_t ldc, int w, bool accumulate) {
  if constexpr (M > 1) {
    if (m < M) return transposed_tile_rows<T, NV, M - 1>(m, n, a, lda, b, ldb, c, ldc, w, accumulate);
  }
  transposed_tile_product<T, M, NV>(n, a, lda, b, ldb, c, ldc, w, accumulate);
}

// c (K, N; row stride ldc) = (or += with accumulate) a^T @ b for b (n, N; row stride ldb) and a
// (n, K) stored in strips of kTileRows columns (strip_layout), in tiles of kTileRows rows of c by
// up to 4 vectors. (With a's rows read in place instead, 6 values a few hundred bytes apart per
// step of the tile's loop, the product ran at ~120 GFLOP/s per core; from strips at ~150.)
template <typename T>
inline void transposed_product(int64_t n, int64_t K, int64_t N, const T* a, const T* b, int64_t ldb, T* c,
                               int64_t ldc, bool accumulate) {
  constexpr int L = lanes<T>();
  for (int64_t j0 = 0; j0 < N; j0 += 4 * L) {
    const int w = static_cast<int>(std::min<int64_t>(4 * L, N - j0));
    auto tiles = [&](auto NV) {
      for (int64_t k0 = 0; k0 < K; k0 += kTileRows) {
        const int m = static_cast<int>(std::min<int64_t>(kTileRows, K - k0));
        transposed_tile_rows<T, decltype(NV)::value>(m, n, a + k0 * n, kTileRows, b + j0, ldb, c + k0 * ldc + j0,
                                                     ldc, w, accumulate);
      }
    };
    const int nv = (w + L - 1) / L;
    if (nv == 1) tiles(std::integral_constant<int, 1>());
    else if (nv == 2) tiles(std::integral_constant<int, 2>());
    else if (nv == 3) tiles(std::integral_constant<int, 3>());
    else tiles(std::integral_constant<int, 4>());
  }
}

// Where transposed_product's left factor (n, K) keeps value (i, k): columns [s*R, s*R + R)
// (R = kTileRows) form strip s, n rows of R values; the last strip is padded to R. Size:
// strip_layout_size(n, K) values.
inline int64_t strip_layout_offset(int64_t n, int64_t i, int64_t k) {
  return (k / kTileRows) * n * kTileRows + i * kTileRows + k % kTileRows;
}
inline int64_t strip_layout_size(int64_t n, int64_t K) {
  return n * ((K + kTileRows - 1) / kTileRows) * kTileRows;
}

// Vectors per panel for a product with N = H columns of units: as many as H fills, up to 4.
template <typename T>
inline int vectors_for_units(int64_t H) {
  return H <= lanes<T>() ? 1 : H <= 2 * lanes<T>() ? 2 : 4;
}

// Calls f(std::integral_constant<int, NV>) for NV in {1, 2, 4}.
template <typename F>
inline void with_vectors(int nv, F&& f) {
  if (nv == 1) f(std::integral_constant<int, 1>());
  else if (nv == 2) f(std::integral_constant<int, 2>());
  else f(std::integral_constant<int, 4>());
}

}  // namespace FASTRNN_ISA
}  // namespace fastrnn
