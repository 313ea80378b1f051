// array_pool.h: memory for the large arrays the kernels return (outputs, caches, gradients),
// recycled from call to call. A fresh large allocation is mapped anew and page-faults on first
// touch: on these VMs zeroing the fresh pages cost a sixth of a big LSTM training forward.
// Blocks come back here when NumPy frees the array; the most recently returned ones, up to a
// byte budget, are kept for the next request of the same size.
#pragma once
#include <cstddef>

namespace fastrnn {

constexpr std::size_t kPooledMinBytes = std::size_t(1) << 20;  // smaller arrays: plain NumPy
constexpr std::size_t kPoolBudgetBytes = std::size_t(512) << 20;

void* pool_allocate(std::size_t bytes);  // 64-byte aligned; bytes >= kPooledMinBytes
void pool_release(void* block);          // a block from pool_allocate
std::size_t pool_cached_bytes();         // held for reuse now
void pool_clear();                       // frees every cached block

}  // namespace fastrnn
