// bindings.cpp: the only file that includes pybind11. It checks what the Python layer already
// validated (dtype, C order, sizes) as a last line of defence, allocates the results,
// releases the GIL and calls the kernels. No arithmetic here.
#include <malloc.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "array_pool.h"
#include "blas.h"
#include "denormals.h"
#include "dispatch.h"
#include "interrupt.h"
#include "optimizer_updates.h"
#include "pool.h"
#include "scratch.h"
#include "sparse_rows.h"

namespace py = pybind11;
using namespace fastrnn;

namespace {

// A read-only pointer into `obj` (or null for None), checked to be C-ordered T with `size` items.
template <typename T>
const T* input(const py::object& obj, int64_t size, const char* name) {
  if (obj.is_none()) return nullptr;
  auto arr = py::cast<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(arr) || !(arr.flags() & py::array::c_style) || arr.size() != size)
    throw std::invalid_argument(std::string("_core: argument '") + name + "' must be a C-contiguous " +
                                (sizeof(T) == 4 ? "float32" : "float64") + " array of " +
                                std::to_string(size) + " items");
  return static_cast<const T*>(arr.data());
}

// A writable pointer into `arr`, checked to be C-ordered T with `size` items (updated in place).
template <typename T>
T* in_place(const py::array& arr, int64_t size, const char* name) {
  if (!py::isinstance<py::array_t<T>>(arr) || !(arr.flags() & py::array::c_style) || arr.size() != size ||
      !arr.writeable())
    throw std::invalid_argument(std::string("_core: argument '") + name + "' must be a writable C-contiguous " +
                                (sizeof(T) == 4 ? "float32" : "float64") + " array of " +
                                std::to_string(size) + " items");
  return static_cast<T*>(const_cast<void*>(arr.data()));
}

// A new uninitialized C-ordered array; large ones take their memory from the array pool.
template <typename T>
py::array_t<T> empty(const std::vector<py::ssize_t>& shape) {
  std::size_t bytes = sizeof(T);
  for (py::ssize_t n : shape) bytes *= static_cast<std::size_t>(n);
  if (bytes < kPooledMinBytes) return py::array_t<T>(shape);
  void* block = pool_allocate(bytes);
  py::capsule owner(block, [](void* b) { pool_release(b); });
  return py::array_t<T>(shape, static_cast<T*>(block), owner);
}

// An array the caller asked for (else None), with its data pointer (else null).
template <typename T>
std::pair<py::object, T*> optional_array(bool wanted, const std::vector<py::ssize_t>& shape) {
  if (!wanted) return {py::none(), nullptr};
  auto a = empty<T>(shape);
  T* data = a.mutable_data();
  return {std::move(a), data};
}

// dkernel (D, N), drecurrent_kernel (H, N) and dbias (N,): views of one (D + H + 1, N) array, so
// that backward's product over all steps writes them in place (weight_gradients.h WeightGradients).
template <typename T>
std::array<py::array_t<T>, 3> weight_gradient_arrays(int64_t D, int64_t H, int64_t N) {
  auto block = empty<T>({D + H + 1, N});
  T* data = block.mutable_data();
  return {py::array_t<T>({D, N}, data, block), py::array_t<T>({H, N}, data + D * N, block),
          py::array_t<T>({N}, data + (D + H) * N, block)};
}

unsigned long main_thread_id = 0;  // Python's main thread, the one that receives Ctrl-C

// interrupt.h's check: runs Python's signal handlers under the GIL (and the caller's float mode,
// not the kernel's flushed subnormals); true when one raised (KeyboardInterrupt for Ctrl-C).
bool python_signal_raised() {
  py::gil_scoped_acquire gil;
  const unsigned kernel_mode = _mm_getcsr();
  _mm_setcsr(kernel_mode & ~(FlushDenormals::kFlushToZero | FlushDenormals::kDenormalsAreZero));
  const bool raised = PyErr_CheckSignals() != 0;
  _mm_setcsr(kernel_mode);
  return raised;
}

// Runs a recurrent kernel without the GIL and with subnormals flushed (denormals.h). Called from
// the main thread, Ctrl-C stops it between steps and its KeyboardInterrupt is raised here.
template <typename Kernel>
void run_recurrent_kernel(Kernel&& kernel) {
  const bool main_thread = PyThread_get_thread_ident() == main_thread_id;
  bool stopped;
  {
    InterruptScope scope(main_thread ? python_signal_raised : nullptr);
    {
      py::gil_scoped_release release;
      FlushDenormals flush;
      kernel();
    }
    stopped = scope.interrupted();
  }
  if (stopped) throw py::error_already_set();
}

std::vector<py::ssize_t> sequence_shape(const RnnProblem& p, int64_t width) {
  if (p.time_major) return {p.T, p.B, width};
  return {p.B, p.T, width};
}

RnnProblem problem(const py::array& x, int64_t H, const py::object& lengths, int activation,
                   int recurrent_activation, bool reverse, bool time_major) {
  if (x.ndim() != 3) throw std::invalid_argument("_core: argument 'x' must be 3-D");
  RnnProblem p;
  p.time_major = time_major;
  p.T = x.shape(time_major ? 0 : 1);
  p.B = x.shape(time_major ? 1 : 0);
  p.D = x.shape(2);
  p.H = H;
  p.reverse = reverse;
  p.activation = static_cast<Activation>(activation);
  p.recurrent_activation = static_cast<Activation>(recurrent_activation);
  p.lengths = input<int32_t>(lengths, p.B, "lengths");
  if (p.lengths)
    for (int64_t b = 0; b < p.B; ++b)
      if (p.lengths[b] < 0 || p.lengths[b] > p.T) throw std::invalid_argument("_core: lengths out of [0, T]");
  return p;
}

template <typename T>
py::tuple simple_rnn_forward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                               const py::object& bias, const py::object& h0, const py::object& lengths,
                               int activation, bool reverse, bool time_major, bool training) {
  const int64_t H = py::cast<py::array>(bias).size();
  const RnnProblem p = problem(x, H, lengths, activation, 0, reverse, time_major);
  auto outputs = empty<T>(sequence_shape(p, H));
  auto h_T = empty<T>({p.B, H});
  auto [saved, saved_ptr] = optional_array<T>(training, sequence_shape(p, H));  // outputs for backward
  SimpleRnnForward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * H, "kernel"),
                        input<T>(recurrent_kernel, H * H, "recurrent_kernel"), input<T>(bias, H, "bias"),
                        input<T>(h0, p.B * H, "h0"), outputs.mutable_data(), h_T.mutable_data(), saved_ptr};
  run_recurrent_kernel([&] { simple_rnn_forward<T>(p, a); });
  return py::make_tuple(outputs, h_T, saved);
}

template <typename T>
py::tuple simple_rnn_backward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                                const py::object& h0, const py::object& outputs, const py::object& lengths,
                                int activation, bool reverse, bool time_major, const py::object& d_outputs,
                                const py::object& d_h, bool input_gradient) {
  const int64_t H = py::cast<py::array>(h0).shape(1);
  const RnnProblem p = problem(x, H, lengths, activation, 0, reverse, time_major);
  auto [dx, dx_ptr] = optional_array<T>(input_gradient, sequence_shape(p, p.D));
  auto dh0 = empty<T>({p.B, H});
  auto [dkernel, drecurrent, dbias] = weight_gradient_arrays<T>(p.D, H, H);
  const int64_t seq = p.T * p.B * H;
  SimpleRnnBackward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * H, "kernel"),
                         input<T>(recurrent_kernel, H * H, "recurrent_kernel"), input<T>(h0, p.B * H, "h0"),
                         input<T>(outputs, seq, "outputs"), input<T>(d_outputs, seq, "d_outputs"),
                         input<T>(d_h, p.B * H, "d_h"), dx_ptr, dh0.mutable_data(),
                         dkernel.mutable_data(), drecurrent.mutable_data(), dbias.mutable_data()};
  run_recurrent_kernel([&] { simple_rnn_backward<T>(p, a); });
  return py::make_tuple(dx, dh0, dkernel, drecurrent, dbias);
}

template <typename T>
py::tuple lstm_forward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                         const py::object& bias, const py::object& h0, const py::object& c0,
                         const py::object& lengths, int activation, int recurrent_activation, bool reverse,
                         bool time_major, bool training) {
  const int64_t H = py::cast<py::array>(bias).size() / 4;
  const RnnProblem p = problem(x, H, lengths, activation, recurrent_activation, reverse, time_major);
  auto outputs = empty<T>(sequence_shape(p, H));
  auto h_T = empty<T>({p.B, H});
  auto c_T = empty<T>({p.B, H});
  auto [saved, saved_ptr] = optional_array<T>(training, sequence_shape(p, H));  // outputs for backward
  // the training cache, time-major whatever x's layout (lstm.cpp cache_row)
  auto [gates, gates_ptr] = optional_array<T>(training, {p.T, p.B, 4 * H});
  auto [cells, cells_ptr] = optional_array<T>(training, {p.T, p.B, H});
  LstmForward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 4 * H, "kernel"),
                   input<T>(recurrent_kernel, H * 4 * H, "recurrent_kernel"), input<T>(bias, 4 * H, "bias"),
                   input<T>(h0, p.B * H, "h0"), input<T>(c0, p.B * H, "c0"), outputs.mutable_data(),
                   h_T.mutable_data(), c_T.mutable_data(), gates_ptr, cells_ptr, saved_ptr};
  run_recurrent_kernel([&] { lstm_forward<T>(p, a); });
  return py::make_tuple(outputs, h_T, c_T, gates, cells, saved);
}

template <typename T>
py::tuple lstm_backward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                          const py::object& h0, const py::object& c0, const py::object& outputs,
                          const py::object& gates, const py::object& cells, const py::object& lengths,
                          int activation, int recurrent_activation, bool reverse, bool time_major,
                          const py::object& d_outputs, const py::object& d_h, const py::object& d_c,
                          bool input_gradient, bool caches_time_major) {
  const int64_t H = py::cast<py::array>(h0).shape(1);
  const RnnProblem p = problem(x, H, lengths, activation, recurrent_activation, reverse, time_major);
  auto [dx, dx_ptr] = optional_array<T>(input_gradient, sequence_shape(p, p.D));
  auto dh0 = empty<T>({p.B, H});
  auto dc0 = empty<T>({p.B, H});
  auto [dkernel, drecurrent, dbias] = weight_gradient_arrays<T>(p.D, H, 4 * H);
  const int64_t seq = p.T * p.B * H;
  LstmBackward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 4 * H, "kernel"),
                    input<T>(recurrent_kernel, H * 4 * H, "recurrent_kernel"), input<T>(h0, p.B * H, "h0"),
                    input<T>(c0, p.B * H, "c0"), input<T>(outputs, seq, "outputs"),
                    input<T>(gates, 4 * seq, "gates"), input<T>(cells, seq, "cells"),
                    input<T>(d_outputs, seq, "d_outputs"), input<T>(d_h, p.B * H, "d_h"),
                    input<T>(d_c, p.B * H, "d_c"), dx_ptr, dh0.mutable_data(), dc0.mutable_data(),
                    dkernel.mutable_data(), drecurrent.mutable_data(), dbias.mutable_data(), caches_time_major};
  if (!a.gates || !a.cells) throw std::invalid_argument("_core: lstm_backward needs the training cache");
  run_recurrent_kernel([&] { lstm_backward<T>(p, a); });
  return py::make_tuple(dx, dh0, dc0, dkernel, drecurrent, dbias);
}


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

bool is_float32(const py::array& x, const char* name = "x") {
  if (py::isinstance<py::array_t<float>>(x)) return true;
  if (py::isinstance<py::array_t<double>>(x)) return false;
  throw std::invalid_argument(std::string("_core: argument '") + name + "' must be float32 or float64");
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
  m.def("simple_rnn_forward", [](const py::array& x, py::object k, py::object rk, py::object b, py::object h0,
                                 py::object lengths, int act, bool reverse, bool time_major, bool training) {
    return is_float32(x)
               ? simple_rnn_forward_t<float>(x, k, rk, b, h0, lengths, act, reverse, time_major, training)
               : simple_rnn_forward_t<double>(x, k, rk, b, h0, lengths, act, reverse, time_major, training);
  });
  m.def("simple_rnn_backward", [](const py::array& x, py::object k, py::object rk, py::object h0, py::object out,
                                  py::object lengths, int act, bool reverse, bool time_major, py::object dout,
                                  py::object dh, bool dx) {
    return is_float32(x)
               ? simple_rnn_backward_t<float>(x, k, rk, h0, out, lengths, act, reverse, time_major, dout, dh, dx)
               : simple_rnn_backward_t<double>(x, k, rk, h0, out, lengths, act, reverse, time_major, dout, dh, dx);
  });
  m.def("lstm_forward", [](const py::array& x, py::object k, py::object rk, py::object b, py::object h0,
                           py::object c0, py::object lengths, int act, int ract, bool reverse, bool time_major,
                           bool training) {
    return is_float32(x)
               ? lstm_forward_t<float>(x, k, rk, b, h0, c0, lengths, act, ract, reverse, time_major, training)
               : lstm_forward_t<double>(x, k, rk, b, h0, c0, lengths, act, ract, reverse, time_major, training);
  });
  m.def("lstm_backward", [](const py::array& x, py::object k, py::object rk, py::object h0, py::object c0,
                            py::object out, py::object gates, py::object cells, py::object lengths, int act,
                            int ract, bool reverse, bool time_major, py::object dout, py::object dh,
                            py::object dc, bool dx, bool caches_time_major) {
    return is_float32(x) ? lstm_backward_t<float>(x, k, rk, h0, c0, out, gates, cells, lengths, act, ract, reverse,
                                                  time_major, dout, dh, dc, dx, caches_time_major)
                         : lstm_backward_t<double>(x, k, rk, h0, c0, out, gates, cells, lengths, act, ract,
                                                   reverse, time_major, dout, dh, dc, dx, caches_time_major);
  });
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
