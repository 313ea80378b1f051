// bindings.cpp: the module fastrnn._core: the layers' kernels (matrix product, activations, table
// rows, optimizer steps; the recurrent ones are in bindings_recurrent.cpp), threads, memory,
// SIMD level and configuration. It checks what validation.py already checked (dtype, C order,
// sizes) as a last line of defence, allocates the results, releases the GIL and calls the
// kernels. No arithmetic here.
#include <malloc.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "blas.h"
#include "dispatch.h"
#include "optimizer_updates.h"
#include "pool.h"
#include "scratch.h"
#include "sparse_rows.h"
#include "tuning.h"

using namespace fastrnn;

unsigned long fastrnn::main_thread_id = 0;

namespace {

// op(a) @ op(b) for 2-D C-ordered arrays of one float dtype (the layers' products, so that they run
// on fastrnn's thread pool rather than NumPy's BLAS threads).
template <typename T>
py::array_t<T> matmul_t(const py::array& a, const py::array& b, bool transpose_a, bool transpose_b) {
  if (a.ndim() != 2 || b.ndim() != 2) throw std::invalid_argument("_core.matmul: arguments must be 2-D");
  const int64_t M = a.shape(transpose_a ? 1 : 0), K = a.shape(transpose_a ? 0 : 1);
  const int64_t N = b.shape(transpose_b ? 0 : 1);
  if (b.shape(transpose_b ? 1 : 0) != K) throw std::invalid_argument("_core.matmul: inner dimensions differ");
  const T* A = input<T>(a, a.size(), "a");
  const T* B = input<T>(b, b.size(), "b");
  auto c = empty<T>({M, N});
  T* C = c.mutable_data();
  py::gil_scoped_release release;
  parallel_gemm<T>(transpose_a, transpose_b, M, N, K, T(1), A, a.shape(1), B, b.shape(1), T(0), C, N);
  return c;
}

// act(x) for a C-ordered array of one float dtype, with the recurrent kernels' vector code.
template <typename T>
py::array_t<T> activate_t(const py::array& x, int activation) {
  const T* in = input<T>(x, x.size(), "x");
  auto y = empty<T>(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  T* out = y.mutable_data();
  py::gil_scoped_release release;
  FlushDenormals flush;  // as inside the recurrent kernels
  activate_array<T>(in, out, x.size(), static_cast<Activation>(activation));
  return y;
}

// ids as a checked pointer: a C-contiguous int64 array, every value in [0, input_dim).
const int64_t* table_ids(const py::array& ids, int64_t input_dim) {
  if (!py::isinstance<py::array_t<int64_t>>(ids) || !(ids.flags() & py::array::c_style))
    throw std::invalid_argument("_core: argument 'ids' must be a C-contiguous int64 array");
  const int64_t* id = static_cast<const int64_t*>(ids.data());
  for (int64_t k = 0; k < ids.size(); ++k)
    if (id[k] < 0 || id[k] >= input_dim)
      throw std::invalid_argument("_core: argument 'ids' must lie in [0, " + std::to_string(input_dim) + ")");
  return id;
}

// What an optimizer step updates (optimizer_updates.h): all n values of w (rows None), or the
// rows of w as a table (rows: distinct ids), dim values each; g holds g_size values.
struct StepParts {
  int64_t n;
  const int64_t* rows;
  int64_t dim, g_size;
};
StepParts step_parts(const py::array& w, const py::object& rows) {
  if (rows.is_none()) return {w.size(), nullptr, 1, w.size()};
  if (w.ndim() < 1 || w.shape(0) == 0) throw std::invalid_argument("_core: argument 'w' must be a table of rows");
  auto ids = py::cast<py::array>(rows);
  const int64_t dim = w.size() / w.shape(0);
  return {ids.size(), table_ids(ids, w.shape(0)), dim, ids.size() * dim};
}

// The optimizer steps of optimizer_updates.h on w and its slots, in place; the coefficients as
// NumPy rounds Python floats for an array of w's dtype.
template <typename T>
void adam_update_t(const py::array& w, const py::array& g, const py::array& m, const py::array& v, double c1,
                   double c2, double alpha, double epsilon, const py::object& rows) {
  const StepParts parts = step_parts(w, rows);
  T* pw = in_place<T>(w, w.size(), "w");
  const T* pg = input<T>(g, parts.g_size, "g");
  T *pm = in_place<T>(m, w.size(), "m"), *pv = in_place<T>(v, w.size(), "v");
  py::gil_scoped_release release;
  adam_update<T>(parts.n, parts.rows, parts.dim, pw, pg, pm, pv, T(c1), T(c2), T(alpha), T(epsilon));
}

template <typename T>
void rmsprop_update_t(const py::array& w, const py::array& g, const py::array& v, double rho, double c, double lr,
                      double epsilon, const py::object& rows) {
  const StepParts parts = step_parts(w, rows);
  T* pw = in_place<T>(w, w.size(), "w");
  const T* pg = input<T>(g, parts.g_size, "g");
  T* pv = in_place<T>(v, w.size(), "v");
  py::gil_scoped_release release;
  rmsprop_update<T>(parts.n, parts.rows, parts.dim, pw, pg, pv, T(rho), T(c), T(lr), T(epsilon));
}

template <typename T>
void momentum_update_t(const py::array& w, const py::array& g, const py::array& m, double momentum, double lr,
                       bool nesterov, const py::object& rows) {
  const StepParts parts = step_parts(w, rows);
  T* pw = in_place<T>(w, w.size(), "w");
  const T* pg = input<T>(g, parts.g_size, "g");
  T* pm = in_place<T>(m, w.size(), "m");
  py::gil_scoped_release release;
  momentum_update<T>(parts.n, parts.rows, parts.dim, pw, pg, pm, T(momentum), T(lr), nesterov);
}

// The rows of table (input_dim, dim) at ids (any shape): ids.shape + (dim,), from the array pool.
template <typename T>
py::array_t<T> gather_rows_t(const py::array& table, const py::array& ids) {
  if (table.ndim() != 2) throw std::invalid_argument("_core: argument 'table' must be 2-D");
  const int64_t n = ids.size(), dim = table.shape(1);
  const int64_t* id = table_ids(ids, table.shape(0));
  const T* rows = input<T>(table, table.size(), "table");
  std::vector<py::ssize_t> shape(ids.shape(), ids.shape() + ids.ndim());
  shape.push_back(dim);
  auto out = empty<T>(shape);
  T* o = out.mutable_data();
  py::gil_scoped_release release;
  gather_rows<T>(n, id, rows, dim, o);
  return out;
}

// The sparse gradient of a table lookup (sparse_rows.h): ids (n,) int64 in [0, input_dim) and
// dy (n, dim) give rows (m,) and values (m, dim).
template <typename T>
py::tuple sum_rows_by_id_t(const py::array& ids, const py::array& dy, int64_t input_dim) {
  if (ids.ndim() != 1 || dy.ndim() != 2 || dy.shape(0) != ids.shape(0))
    throw std::invalid_argument("_core: arguments 'ids' (n,) and 'dy' (n, dim) do not match");
  const int64_t n = ids.shape(0), dim = dy.shape(1);
  const int64_t* id = table_ids(ids, input_dim);
  const T* g = input<T>(dy, n * dim, "dy");
  std::vector<int64_t> rows(n), slot(n);
  int64_t m;
  {
    py::gil_scoped_release release;
    m = distinct_ids(n, id, input_dim, rows.data(), slot.data());
  }
  py::array_t<int64_t> distinct(m);
  std::copy(rows.begin(), rows.begin() + m, distinct.mutable_data());
  auto values = empty<T>({m, dim});
  T* v = values.mutable_data();
  {
    py::gil_scoped_release release;
    sum_rows<T>(n, slot.data(), g, dim, m, v);
  }
  return py::make_tuple(distinct, values);
}


void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1");
  set_pool_threads(n);
}

// Frees what the core holds between calls: the result arrays kept for reuse, the arenas of every
// thread not inside a call, and what malloc keeps of freed buffers. Returns the bytes freed
// from the pool and the arenas.
int64_t release_memory() {
  const int64_t pooled = static_cast<int64_t>(pool_cached_bytes());
  pool_clear();
  const int64_t arenas = release_idle_arenas();
  malloc_trim(0);
  return pooled + arenas;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastrnn's C++ kernels; use fastrnn.ops, which validates arguments first.";
  blas_init();
  main_thread_id = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  bind_recurrent_kernels(m);
  m.def("matmul", [](const py::array& a, const py::array& b, bool transpose_a, bool transpose_b) {
    return is_float32(a) ? py::object(matmul_t<float>(a, b, transpose_a, transpose_b))
                         : py::object(matmul_t<double>(a, b, transpose_a, transpose_b));
  });
  m.def("activate", [](const py::array& x, int activation) {
    if (activation < 0 || activation > static_cast<int>(Activation::HardSigmoid))
      throw std::invalid_argument("_core.activate: unknown activation code");
    return is_float32(x) ? py::object(activate_t<float>(x, activation)) : py::object(activate_t<double>(x, activation));
  });
  m.def("adam_update", [](const py::array& w, const py::array& g, const py::array& m, const py::array& v, double c1,
                          double c2, double alpha, double epsilon, const py::object& rows) {
    if (is_float32(w, "w")) adam_update_t<float>(w, g, m, v, c1, c2, alpha, epsilon, rows);
    else adam_update_t<double>(w, g, m, v, c1, c2, alpha, epsilon, rows);
  }, py::arg("w"), py::arg("g"), py::arg("m"), py::arg("v"), py::arg("c1"), py::arg("c2"), py::arg("alpha"),
     py::arg("epsilon"), py::arg("rows") = py::none());
  m.def("rmsprop_update", [](const py::array& w, const py::array& g, const py::array& v, double rho, double c,
                             double lr, double epsilon, const py::object& rows) {
    if (is_float32(w, "w")) rmsprop_update_t<float>(w, g, v, rho, c, lr, epsilon, rows);
    else rmsprop_update_t<double>(w, g, v, rho, c, lr, epsilon, rows);
  }, py::arg("w"), py::arg("g"), py::arg("v"), py::arg("rho"), py::arg("c"), py::arg("lr"), py::arg("epsilon"),
     py::arg("rows") = py::none());
  m.def("momentum_update", [](const py::array& w, const py::array& g, const py::array& m, double momentum, double lr,
                              bool nesterov, const py::object& rows) {
    if (is_float32(w, "w")) momentum_update_t<float>(w, g, m, momentum, lr, nesterov, rows);
    else momentum_update_t<double>(w, g, m, momentum, lr, nesterov, rows);
  }, py::arg("w"), py::arg("g"), py::arg("m"), py::arg("momentum"), py::arg("lr"), py::arg("nesterov"),
     py::arg("rows") = py::none());
  m.def("gather_rows", [](const py::array& table, const py::array& ids) {
    return is_float32(table, "table") ? py::object(gather_rows_t<float>(table, ids))
                                      : py::object(gather_rows_t<double>(table, ids));
  });
  m.def("sum_rows_by_id", [](const py::array& ids, const py::array& dy, int64_t input_dim) {
    return is_float32(dy, "dy") ? sum_rows_by_id_t<float>(ids, dy, input_dim)
                                : sum_rows_by_id_t<double>(ids, dy, input_dim);
  });
  m.def("memory", []() {
    py::dict d;
    d["pooled_bytes"] = pool_cached_bytes();
    d["arena_bytes"] = arena_bytes();
    d["arena_threads"] = arena_threads();
    return d;
  }, "Bytes the core holds between calls: freed result arrays kept for reuse, per-thread arenas.");
  m.def("release_memory", &release_memory, "Frees what the core holds between calls; returns the bytes.");
  m.def("tuning", []() {
    py::dict d;
    d["split"] = tuning().split.load();
    d["input_product"] = tuning().input_product.load();
    d["idle_spin_us"] = tuning().idle_spin_us.load();
    d["barrier_spin_us"] = tuning().barrier_spin_us.load();
    return d;
  }, "The kernels' knobs (tuning.h) as numbers; fastrnn.tuning names them.");
  m.def("set_tuning", [](int split, int input_product, double idle_spin_us, double barrier_spin_us) {
    if (split < 0 || split > 2 || input_product < 0 || input_product > 3 || idle_spin_us < 0 || barrier_spin_us < 0)
      throw std::invalid_argument("_core.set_tuning: a value out of range");
    tuning().split = split;
    tuning().input_product = input_product;
    tuning().idle_spin_us = idle_spin_us;
    tuning().barrier_spin_us = barrier_spin_us;
  });
  m.def("set_num_threads", &set_num_threads, "Threads for the kernels, process-wide (the BLAS runs inside them).");
  m.def("get_num_threads", &pool_threads);
  m.def("simd_level", []() { return std::string(simd_level_name(simd_level())); });
  m.def("detected_simd_level", []() { return std::string(simd_level_name(detected_simd_level())); });
  m.def("set_simd_level", [](const std::string& name) {
    for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
      if (name == simd_level_name(level)) return set_simd_level(level);
    throw std::invalid_argument("set_simd_level: unknown level '" + name + "' (baseline, avx2, avx512)");
  });
  m.def("config", []() {
    py::dict d;
    d["version"] = FASTRNN_VERSION;
    d["blas"] = "OpenBLAS (scipy-openblas32)";
    d["blas_version"] = FASTRNN_OPENBLAS_VERSION;
    d["blas_config"] = blas_config();
    d["blas_threads"] = std::to_string(blas_threads()) + " per call (products are split across fastrnn's threads)";
    d["threads"] = pool_threads();
    d["thread_pool"] = "fastrnn's own persistent workers (bounded spin, then futex sleep)";
    d["parallel_jobs"] = pool_jobs();
    d["simd_levels_compiled"] = py::make_tuple("baseline", "avx2", "avx512");
    d["simd_detected"] = simd_level_name(detected_simd_level());
    d["simd_in_use"] = simd_level_name(simd_level());
    d["native_build"] = FASTRNN_NATIVE_BUILD != 0;
    d["denormals"] = "flushed to zero in the recurrent kernels (FTZ/DAZ)";
    return d;
  });
}
