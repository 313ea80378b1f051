// bindings.h: what the binding files share: checked pointers into NumPy arrays, result arrays
// (large ones from the array pool), the float32/float64 switch, and how a recurrent kernel is run
// (without the GIL, subnormals flushed, Ctrl-C checked between steps). Only binding files
// include pybind11.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "array_pool.h"
#include "denormals.h"
#include "interrupt.h"

namespace fastrnn {
namespace py = pybind11;

// A read-only pointer into `obj` (or null for None), checked to be C-ordered T with `size` items.
template <typename T>
inline const T* input(const py::object& obj, int64_t size, const char* name) {
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
inline T* in_place(const py::array& arr, int64_t size, const char* name) {
  if (!py::isinstance<py::array_t<T>>(arr) || !(arr.flags() & py::array::c_style) || arr.size() != size ||
      !arr.writeable())
    throw std::invalid_argument(std::string("_core: argument '") + name + "' must be a writable C-contiguous " +
                                (sizeof(T) == 4 ? "float32" : "float64") + " array of " +
                                std::to_string(size) + " items");
  return static_cast<T*>(const_cast<void*>(arr.data()));
}

// A new uninitialized C-ordered array; large ones take their memory from the array pool.
template <typename T>
inline py::array_t<T> empty(const std::vector<py::ssize_t>& shape) {
  std::size_t bytes = sizeof(T);
  for (py::ssize_t n : shape) bytes *= static_cast<std::size_t>(n);
  if (bytes < kPooledMinBytes) return py::array_t<T>(shape);
  void* block = pool_allocate(bytes);
  py::capsule owner(block, [](void* b) { pool_release(b); });
  return py::array_t<T>(shape, static_cast<T*>(block), owner);
}

// An array the caller asked for (else None), with its data pointer (else null).
template <typename T>
inline std::pair<py::object, T*> optional_array(bool wanted, const std::vector<py::ssize_t>& shape) {
  if (!wanted) return {py::none(), nullptr};
  auto a = empty<T>(shape);
  T* data = a.mutable_data();
  return {std::move(a), data};
}

// Whether x is float32 (else float64; anything else is an error naming the argument).
inline bool is_float32(const py::array& x, const char* name = "x") {
  if (py::isinstance<py::array_t<float>>(x)) return true;
  if (py::isinstance<py::array_t<double>>(x)) return false;
  throw std::invalid_argument(std::string("_core: argument '") + name + "' must be float32 or float64");
}

extern unsigned long main_thread_id;  // Python's main thread, the one that receives Ctrl-C

// interrupt.h's check: runs Python's signal handlers under the GIL (and the caller's float mode,
// not the kernel's flushed subnormals); true when one raised (KeyboardInterrupt for Ctrl-C).
inline bool python_signal_raised() {
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

void bind_recurrent_kernels(py::module_& m);  // bindings_recurrent.cpp

}  // namespace fastrnn
