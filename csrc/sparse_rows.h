// sparse_rows.h: a table lookup (Embedding) and its gradient as sparse rows: the rows of the ids
// gathered, and the distinct ids of a batch in ascending order with, for each, the sum of the
// gradient rows where it occurs, added in the order they occur. Those are the bits of NumPy's
// table[ids] and np.unique + np.add.at, the twins in fastrnn/_sparse_rows.py (at a (128, 500)
// batch of 32-wide rows NumPy takes ~3.5 ms for the lookup, its fresh result page-faulting, and
// ~20 ms for the sums).
#pragma once
#include <cstdint>

namespace fastrnn {

// out (n, dim) = the rows ids[0, n) of table (input_dim, dim); every id in [0, input_dim).
template <typename T>
void gather_rows(int64_t n, const int64_t* ids, const T* table, int64_t dim, T* out);

// rows: the distinct values of ids[0, n), ascending (returns how many, m); slot[k]: the index in
// rows of ids[k]. Every id must lie in [0, input_dim); rows and slot hold n values.
int64_t distinct_ids(int64_t n, const int64_t* ids, int64_t input_dim, int64_t* rows, int64_t* slot);

// values (m, dim) = 0, then values[slot[k]] += dy[k] (rows of dim values) for k = 0 .. n-1 in order.
template <typename T>
void sum_rows(int64_t n, const int64_t* slot, const T* dy, int64_t dim, int64_t m, T* values);

}  // namespace fastrnn
