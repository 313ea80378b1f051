// sparse_rows.cpp: see sparse_rows.h. Lookups of many rows are split between the pool's threads.
// The distinct ids come from marking a table of input_dim entries when it is not much larger than
// the batch, else from sorting. The sums are split by rows between the pool's threads, each
// scanning all positions for its own rows, so every row's additions keep their order whatever
// the thread count.
#include "sparse_rows.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "pool.h"

namespace fastrnn {

template <typename T>
void gather_rows(int64_t n, const int64_t* ids, const T* table, int64_t dim, T* out) {
  const int threads = n * dim >= (int64_t(1) << 16) ? pool_threads() : 1;
  auto job = [&](int t, int shares) {
    for (int64_t k = n * t / shares; k < n * (t + 1) / shares; ++k)
      std::memcpy(out + k * dim, table + ids[k] * dim, dim * sizeof(T));
  };
  parallel_for_threads(threads, job);
}

int64_t distinct_ids(int64_t n, const int64_t* ids, int64_t input_dim, int64_t* rows, int64_t* slot) {
  int64_t m = 0;
  if (input_dim <= 8 * n + 4096) {
    std::vector<int64_t> index(input_dim, -1);  // id -> its place in rows (-1: absent)
    for (int64_t k = 0; k < n; ++k) index[ids[k]] = 0;  // present, place not yet known
    for (int64_t id = 0; id < input_dim; ++id)
      if (index[id] == 0) index[id] = m, rows[m++] = id;
    for (int64_t k = 0; k < n; ++k) slot[k] = index[ids[k]];
    return m;
  }
  std::copy(ids, ids + n, rows);  // a vocabulary much larger than the batch: sort instead
  std::sort(rows, rows + n);
  m = std::unique(rows, rows + n) - rows;
  for (int64_t k = 0; k < n; ++k) slot[k] = std::lower_bound(rows, rows + m, ids[k]) - rows;
  return m;
}

template <typename T>
void sum_rows(int64_t n, const int64_t* slot, const T* dy, int64_t dim, int64_t m, T* values) {
  const int threads = n * dim >= (int64_t(1) << 16) ? static_cast<int>(std::min<int64_t>(pool_threads(), m)) : 1;
  auto job = [&](int t, int shares) {
    const int64_t first = m * t / shares, last = m * (t + 1) / shares;  // this thread's rows
    std::fill(values + first * dim, values + last * dim, T(0));
    for (int64_t k = 0; k < n; ++k) {
      if (slot[k] < first || slot[k] >= last) continue;
      T* out = values + slot[k] * dim;
      const T* in = dy + k * dim;
      for (int64_t j = 0; j < dim; ++j) out[j] += in[j];
    }
  };
  parallel_for_threads(std::max(threads, 1), job);
}

template void gather_rows<float>(int64_t, const int64_t*, const float*, int64_t, float*);
template void gather_rows<double>(int64_t, const int64_t*, const double*, int64_t, double*);
template void sum_rows<float>(int64_t, const int64_t*, const float*, int64_t, int64_t, float*);
template void sum_rows<double>(int64_t, const int64_t*, const double*, int64_t, int64_t, double*);

}  // namespace fastrnn
