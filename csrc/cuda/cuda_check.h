// cuda_check.h: host-side error checks for CUDA runtime calls and a stream-ordered scratch
// buffer. Errors become std::runtime_error with the call and CUDA's message; pybind11 turns
// them into Python RuntimeError. No kernels here.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace fastrnn {
namespace cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("fastrnn cuda: ") + what + " failed: " + cudaGetErrorString(status));
}

// After a kernel launch: a bad configuration shows up here, not at the next call.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// dst[0:count] = src[0:count] on the device, or zeros when src is null (stream-ordered).
template <typename T>
inline void copy_or_zero(T* dst, const T* src, size_t count, cudaStream_t stream, const char* what) {
  if (count == 0) return;
  if (src) check(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToDevice, stream), what);
  else check(cudaMemsetAsync(dst, 0, count * sizeof(T), stream), what);
}

// count elements of T on the device, allocated and freed in stream order (cudaMallocAsync), so
// scratch space costs no device-wide synchronisation; the pool keeps the memory for reuse.
template <typename T>
class Scratch {
 public:
  Scratch(size_t count, cudaStream_t stream) : stream_(stream) {
    if (count) check(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(T), stream), "cudaMallocAsync");
  }
  ~Scratch() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace cuda
}  // namespace fastrnn
