// bindings_cuda.cpp: the Python module fastrnn._cuda, the only CUDA file that includes pybind11.
// It takes device pointers (integers) with the problem's sizes, checks them, sets the device,
// releases the GIL and queues the kernels on the given stream. Memory belongs to the caller
// (_cuda_backend.py, through DeviceBuffer for NumPy inputs). No arithmetic on the data here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "blas_cuda.h"
#include "cuda_check.h"
#include "layer_kernels.h"
#include "rnn_cuda.h"

namespace py = pybind11;
using namespace fastrnn;
using fastrnn::cuda::check;

namespace {

template <typename T>
T* ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

// Selects the device, keeps freed scratch memory in its pool (no trip to the driver per call),
// and returns the context the kernels run in.
cuda::Context enter(int device, uintptr_t stream, bool persistent) {
  check(cudaSetDevice(device), "cudaSetDevice");
  static std::mutex mutex;
  static std::set<int> prepared;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!prepared.count(device)) {
      cudaMemPool_t pool;
      check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
      uint64_t keep = UINT64_MAX;
      check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
      prepared.insert(device);
    }
  }
  cuda::Context ctx;
  ctx.stream = reinterpret_cast<cudaStream_t>(stream);
  ctx.blas = cuda::blas_handle();
  ctx.allow_persistent = persistent;
  return ctx;
}

// The problem description from Python's arguments; sequences holds device pointers (or 0) named
// as RnnProblem's lengths, starts, order and order_steps.
RnnProblem problem(int64_t T, int64_t B, int64_t D, int64_t H, bool time_major, bool reverse,
                   const py::dict& sequences, int activation, int recurrent_activation) {
  if (T < 0 || B < 0 || D < 0 || H < 0) throw py::value_error("fastrnn cuda: sizes must be non-negative");
  if (activation < 0 || activation > 4 || recurrent_activation < 0 || recurrent_activation > 4)
    throw py::value_error("fastrnn cuda: unknown activation code");
  RnnProblem p;
  p.T = T;
  p.B = B;
  p.D = D;
  p.H = H;
  p.time_major = time_major;
  p.reverse = reverse;
  auto pointer = [&](const char* name) { return ptr<const int32_t>(sequences[name].cast<uintptr_t>()); };
  p.lengths = pointer("lengths");
  p.starts = pointer("starts");
  p.order = pointer("order");
  p.order_steps = pointer("order_steps");
  p.activation = static_cast<Activation>(activation);
  p.recurrent_activation = static_cast<Activation>(recurrent_activation);
  return p;
}

bool is_double(const std::string& dtype) {
  if (dtype == "float64") return true;
  if (dtype == "float32") return false;
  throw py::type_error("fastrnn cuda: dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

template <typename T>
bool simple_rnn_forward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx) {
  SimpleRnnForward<T> f{ptr<const T>(a["x"].cast<uintptr_t>()),        ptr<const T>(a["kernel"].cast<uintptr_t>()),
                        ptr<const T>(a["recurrent_kernel"].cast<uintptr_t>()), ptr<const T>(a["bias"].cast<uintptr_t>()),
                        ptr<const T>(a["h0"].cast<uintptr_t>()),       ptr<T>(a["outputs"].cast<uintptr_t>()),
                        ptr<T>(a["h_T"].cast<uintptr_t>())};
  py::gil_scoped_release release;
  cuda::simple_rnn_forward<T>(p, f, ctx);
  return ctx.ran_persistent;
}

template <typename T>
bool simple_rnn_backward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx) {
  SimpleRnnBackward<T> g{ptr<const T>(a["x"].cast<uintptr_t>()),       ptr<const T>(a["kernel"].cast<uintptr_t>()),
                         ptr<const T>(a["recurrent_kernel"].cast<uintptr_t>()), ptr<const T>(a["h0"].cast<uintptr_t>()),
                         ptr<const T>(a["outputs"].cast<uintptr_t>()), ptr<const T>(a["d_outputs"].cast<uintptr_t>()),
                         ptr<const T>(a["d_h"].cast<uintptr_t>()),     ptr<T>(a["dx"].cast<uintptr_t>()),
                         ptr<T>(a["dh0"].cast<uintptr_t>()),           ptr<T>(a["dkernel"].cast<uintptr_t>()),
                         ptr<T>(a["drecurrent_kernel"].cast<uintptr_t>()), ptr<T>(a["dbias"].cast<uintptr_t>())};
  py::gil_scoped_release release;
  cuda::simple_rnn_backward<T>(p, g, ctx);
  return ctx.ran_persistent;
}

template <typename T>
bool lstm_forward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx) {
  LstmForward<T> f{ptr<const T>(a["x"].cast<uintptr_t>()),  ptr<const T>(a["kernel"].cast<uintptr_t>()),
                   ptr<const T>(a["recurrent_kernel"].cast<uintptr_t>()), ptr<const T>(a["bias"].cast<uintptr_t>()),
                   ptr<const T>(a["h0"].cast<uintptr_t>()), ptr<const T>(a["c0"].cast<uintptr_t>()),
                   ptr<T>(a["outputs"].cast<uintptr_t>()),  ptr<T>(a["h_T"].cast<uintptr_t>()),
                   ptr<T>(a["c_T"].cast<uintptr_t>()),      ptr<T>(a["gates"].cast<uintptr_t>()),
                   ptr<T>(a["cells"].cast<uintptr_t>())};
  if ((f.gates == nullptr) != (f.cells == nullptr))
    throw py::value_error("fastrnn cuda: lstm_forward needs both gates and cells (training) or neither");
  py::gil_scoped_release release;
  cuda::lstm_forward<T>(p, f, ctx);
  return ctx.ran_persistent;
}

template <typename T>
bool lstm_backward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx) {
  LstmBackward<T> g{ptr<const T>(a["x"].cast<uintptr_t>()),       ptr<const T>(a["kernel"].cast<uintptr_t>()),
                    ptr<const T>(a["recurrent_kernel"].cast<uintptr_t>()), ptr<const T>(a["h0"].cast<uintptr_t>()),
                    ptr<const T>(a["c0"].cast<uintptr_t>()),      ptr<const T>(a["outputs"].cast<uintptr_t>()),
                    ptr<const T>(a["gates"].cast<uintptr_t>()),   ptr<const T>(a["cells"].cast<uintptr_t>()),
                    ptr<const T>(a["d_outputs"].cast<uintptr_t>()), ptr<const T>(a["d_h"].cast<uintptr_t>()),
                    ptr<const T>(a["d_c"].cast<uintptr_t>()),     ptr<T>(a["dx"].cast<uintptr_t>()),
                    ptr<T>(a["dh0"].cast<uintptr_t>()),           ptr<T>(a["dc0"].cast<uintptr_t>()),
                    ptr<T>(a["dkernel"].cast<uintptr_t>()),       ptr<T>(a["drecurrent_kernel"].cast<uintptr_t>()),
                    ptr<T>(a["dbias"].cast<uintptr_t>())};
  py::gil_scoped_release release;
  cuda::lstm_backward<T>(p, g, ctx);
  return ctx.ran_persistent;
}

template <typename T>
bool gru_forward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx, bool reset_after) {
  auto in = [&](const char* name) { return ptr<const T>(a[name].cast<uintptr_t>()); };
  auto out = [&](const char* name) { return ptr<T>(a[name].cast<uintptr_t>()); };
  GruForward<T> f{in("x"), in("kernel"), in("recurrent_kernel"), in("bias"), in("recurrent_bias"), in("h0"),
                  out("outputs"), out("h_T"), out("gates"), nullptr, reset_after};
  if (reset_after != (f.recurrent_bias != nullptr))
    throw py::value_error("fastrnn cuda: recurrent_bias goes with reset_after");
  py::gil_scoped_release release;
  cuda::gru_forward<T>(p, f, ctx);
  return ctx.ran_persistent;
}

template <typename T>
bool gru_backward(const RnnProblem& p, const py::dict& a, const cuda::Context& ctx, bool reset_after) {
  auto in = [&](const char* name) { return ptr<const T>(a[name].cast<uintptr_t>()); };
  auto out = [&](const char* name) { return ptr<T>(a[name].cast<uintptr_t>()); };
  GruBackward<T> g{in("x"),   in("kernel"), in("recurrent_kernel"), in("h0"), in("outputs"), in("gates"),
                   in("d_outputs"), in("d_h"), out("dx"), out("dh0"), out("dkernel"), out("drecurrent_kernel"),
                   out("dbias"), out("drecurrent_bias"), reset_after};
  if (reset_after != (g.drecurrent_bias != nullptr))
    throw py::value_error("fastrnn cuda: drecurrent_bias goes with reset_after");
  py::gil_scoped_release release;
  cuda::gru_backward<T>(p, g, ctx);
  return ctx.ran_persistent;
}

// Device memory for NumPy inputs: allocated here, freed when the Python object goes.
class DeviceBuffer {
 public:
  DeviceBuffer(size_t nbytes, int device) : nbytes_(nbytes), device_(device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    if (nbytes) check(cudaMalloc(&ptr_, nbytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr_) {
      cudaSetDevice(device_);
      cudaFree(ptr_);
    }
  }
  uintptr_t address() const { return reinterpret_cast<uintptr_t>(ptr_); }
  size_t nbytes() const { return nbytes_; }
  // Blocking copies; cudaMemcpy waits for the work queued before it on the legacy stream.
  void upload(const py::buffer& host) {
    const py::buffer_info info = host.request();
    check_size(info);
    check(cudaSetDevice(device_), "cudaSetDevice");
    if (nbytes_) check(cudaMemcpy(ptr_, info.ptr, nbytes_, cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
  void download(const py::buffer& host) const {
    const py::buffer_info info = host.request(true);
    check_size(info);
    check(cudaSetDevice(device_), "cudaSetDevice");
    if (nbytes_) check(cudaMemcpy(info.ptr, ptr_, nbytes_, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
  }

 private:
  void check_size(const py::buffer_info& info) const {
    if (static_cast<size_t>(info.size * info.itemsize) != nbytes_)
      throw py::value_error("fastrnn cuda: host array has " + std::to_string(info.size * info.itemsize) +
                            " bytes, the device buffer " + std::to_string(nbytes_));
    ssize_t expected = info.itemsize;
    for (ssize_t d = info.ndim - 1; d >= 0; --d) {
      if (info.shape[d] > 1 && info.strides[d] != expected)
        throw py::value_error("fastrnn cuda: host array must be C-contiguous");
      expected *= info.shape[d];
    }
  }
  void* ptr_ = nullptr;
  size_t nbytes_;
  int device_;
};

std::string version_string(int v) {  // CUDA's 1000 * major + 10 * minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "fastrnn's CUDA kernels (built with FASTRNN_CUDA=ON); use fastrnn.ops with backend='cuda'";

  m.def("device_status", []() -> py::tuple {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) return py::make_tuple(0, std::string(cudaGetErrorString(status)));
    if (count == 0) return py::make_tuple(0, std::string("no CUDA device found"));
    return py::make_tuple(count, std::string("ok"));
  }, "(number of usable CUDA devices, reason when there are none).");

  m.def("current_device", []() {
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    return device;
  });

  m.def("synchronize", [](int device, uintptr_t stream) {
    check(cudaSetDevice(device), "cudaSetDevice");
    py::gil_scoped_release release;
    check(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
  }, py::arg("device"), py::arg("stream"));

  m.def("config", []() {
    py::dict info;
    int runtime = 0, driver = 0, count = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    info["cuda"] = "built (CUDA " + version_string(CUDART_VERSION) + ", architectures " FASTRNN_CUDA_ARCHITECTURES ")";
    info["cuda runtime"] = version_string(runtime);
    info["cuda driver"] = driver ? version_string(driver) : std::string("none");
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
      info["cuda device"] = std::string("none (") + (status != cudaSuccess ? cudaGetErrorString(status) : "no device") + ")";
      return info;
    }
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    info["cuda device"] = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                          ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
                          std::to_string(prop.totalGlobalMem >> 20) + " MiB; " + std::to_string(count) + " device(s))";
    const int v = cuda::blas_version();
    info["cublas"] = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
    return info;
  }, "The CUDA build and the device: runtime, driver, device name, cuBLAS version.");

  py::class_<DeviceBuffer>(m, "DeviceBuffer", "Device memory for one NumPy array (freed with the object).")
      .def(py::init<size_t, int>(), py::arg("nbytes"), py::arg("device"))
      .def_property_readonly("ptr", &DeviceBuffer::address)
      .def_property_readonly("nbytes", &DeviceBuffer::nbytes)
      .def("upload", &DeviceBuffer::upload, py::arg("host"))
      .def("download", &DeviceBuffer::download, py::arg("host"));

  // Each kernel: dtype, sizes and options, then a dict of device pointers (0 for null) named as
  // in rnn_cuda.h, the device, the stream and whether the persistent kernels may run (where the
  // shape fits). Each returns whether a persistent kernel ran.
  m.def("simple_rnn_forward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H, bool time_major,
                                 bool reverse, const py::dict& sequences, int activation, const py::dict& arrays, int device,
                                 uintptr_t stream, bool persistent) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, 2);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? simple_rnn_forward<double>(p, arrays, ctx)
                            : simple_rnn_forward<float>(p, arrays, ctx);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("arrays"), py::arg("device"),
     py::arg("stream"), py::arg("persistent"));

  m.def("simple_rnn_backward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H,
                                  bool time_major, bool reverse, const py::dict& sequences, int activation,
                                  const py::dict& arrays, int device, uintptr_t stream, bool persistent) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, 2);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? simple_rnn_backward<double>(p, arrays, ctx)
                            : simple_rnn_backward<float>(p, arrays, ctx);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("arrays"), py::arg("device"),
     py::arg("stream"), py::arg("persistent"));

  m.def("lstm_forward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H, bool time_major,
                           bool reverse, const py::dict& sequences, int activation, int recurrent_activation,
                           const py::dict& arrays, int device, uintptr_t stream, bool persistent) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, recurrent_activation);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? lstm_forward<double>(p, arrays, ctx)
                            : lstm_forward<float>(p, arrays, ctx);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("recurrent_activation"),
     py::arg("arrays"), py::arg("device"), py::arg("stream"), py::arg("persistent"));

  m.def("lstm_backward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H, bool time_major,
                            bool reverse, const py::dict& sequences, int activation, int recurrent_activation,
                            const py::dict& arrays, int device, uintptr_t stream, bool persistent) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, recurrent_activation);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? lstm_backward<double>(p, arrays, ctx) : lstm_backward<float>(p, arrays, ctx);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("recurrent_activation"),
     py::arg("arrays"), py::arg("device"), py::arg("stream"), py::arg("persistent"));

  m.def("gru_forward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H, bool time_major,
                          bool reverse, const py::dict& sequences, int activation, int recurrent_activation,
                          const py::dict& arrays, int device, uintptr_t stream, bool persistent, bool reset_after) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, recurrent_activation);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? gru_forward<double>(p, arrays, ctx, reset_after)
                            : gru_forward<float>(p, arrays, ctx, reset_after);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("recurrent_activation"),
     py::arg("arrays"), py::arg("device"), py::arg("stream"), py::arg("persistent"), py::arg("reset_after"));

  m.def("gru_backward", [](const std::string& dtype, int64_t T, int64_t B, int64_t D, int64_t H, bool time_major,
                           bool reverse, const py::dict& sequences, int activation, int recurrent_activation,
                           const py::dict& arrays, int device, uintptr_t stream, bool persistent, bool reset_after) {
    const RnnProblem p = problem(T, B, D, H, time_major, reverse, sequences, activation, recurrent_activation);
    const cuda::Context ctx = enter(device, stream, persistent);
    return is_double(dtype) ? gru_backward<double>(p, arrays, ctx, reset_after)
                            : gru_backward<float>(p, arrays, ctx, reset_after);
  }, py::arg("dtype"), py::arg("T"), py::arg("B"), py::arg("D"), py::arg("H"), py::arg("time_major"),
     py::arg("reverse"), py::arg("sequences"), py::arg("activation"), py::arg("recurrent_activation"),
     py::arg("arrays"), py::arg("device"), py::arg("stream"), py::arg("persistent"), py::arg("reset_after"));

  // The layers' kernels (layer_kernels.h, blas_cuda.h): dtype, sizes, device pointers, device, stream.
  m.def("matmul", [](const std::string& dtype, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                     uintptr_t a, uintptr_t b, uintptr_t c, int device, uintptr_t stream) {
    const cuda::Context ctx = enter(device, stream, false);
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    if (is_double(dtype))
      cuda::gemm<double>(ctx, trans_a, trans_b, M, N, K, 1.0, ptr<const double>(a), lda, ptr<const double>(b), ldb,
                         0.0, ptr<double>(c), N);
    else
      cuda::gemm<float>(ctx, trans_a, trans_b, M, N, K, 1.0f, ptr<const float>(a), lda, ptr<const float>(b), ldb,
                        0.0f, ptr<float>(c), N);
  });
  m.def("activate", [](const std::string& dtype, int64_t n, uintptr_t x, uintptr_t y, int activation, int device,
                       uintptr_t stream) {
    if (activation < 0 || activation > 4) throw py::value_error("fastrnn cuda: unknown activation code");
    const cuda::Context ctx = enter(device, stream, false);
    const Activation act = static_cast<Activation>(activation);
    if (is_double(dtype)) cuda::activate_array<double>(ctx, ptr<const double>(x), ptr<double>(y), n, act);
    else cuda::activate_array<float>(ctx, ptr<const float>(x), ptr<float>(y), n, act);
  });
  m.def("gather_rows", [](const std::string& dtype, int64_t n, uintptr_t ids, uintptr_t table, int64_t dim,
                          uintptr_t out, int device, uintptr_t stream) {
    const cuda::Context ctx = enter(device, stream, false);
    if (is_double(dtype))
      cuda::gather_rows<double>(ctx, n, ptr<const int64_t>(ids), ptr<const double>(table), dim, ptr<double>(out));
    else
      cuda::gather_rows<float>(ctx, n, ptr<const int64_t>(ids), ptr<const float>(table), dim, ptr<float>(out));
  });
  m.def("sum_rows", [](const std::string& dtype, int64_t m, uintptr_t segments, uintptr_t order, uintptr_t dy,
                       int64_t dim, uintptr_t values, int device, uintptr_t stream) {
    const cuda::Context ctx = enter(device, stream, false);
    if (is_double(dtype))
      cuda::sum_rows<double>(ctx, m, ptr<const int64_t>(segments), ptr<const int64_t>(order), ptr<const double>(dy),
                             dim, ptr<double>(values));
    else
      cuda::sum_rows<float>(ctx, m, ptr<const int64_t>(segments), ptr<const int64_t>(order), ptr<const float>(dy),
                            dim, ptr<float>(values));
  });
  // The optimizer steps: `pointers` holds w, g and the slots (m, v / v / m), `values` the coefficients.
  m.def("optimizer_update", [](const std::string& kind, const std::string& dtype, int64_t n, uintptr_t rows,
                               int64_t dim, const py::dict& pointers, const py::tuple& values, int device,
                               uintptr_t stream) {
    const cuda::Context ctx = enter(device, stream, false);
    auto run = [&](auto zero) {
      using T = decltype(zero);
      auto p = [&](const char* name) { return ptr<T>(pointers[name].cast<uintptr_t>()); };
      auto v = [&](int i) { return static_cast<T>(values[i].cast<double>()); };
      const int64_t* r = ptr<const int64_t>(rows);
      if (kind == "adam") cuda::adam_update<T>(ctx, n, r, dim, p("w"), p("g"), p("m"), p("v"), v(0), v(1), v(2), v(3));
      else if (kind == "rmsprop") cuda::rmsprop_update<T>(ctx, n, r, dim, p("w"), p("g"), p("v"), v(0), v(1), v(2), v(3));
      else if (kind == "momentum")
        cuda::momentum_update<T>(ctx, n, r, dim, p("w"), p("g"), p("m"), v(0), v(1), values[2].cast<bool>());
      else throw py::value_error("fastrnn cuda: unknown optimizer update '" + kind + "'");
    };
    if (is_double(dtype)) run(0.0);
    else run(0.0f);
  });
}
