// mapped_memory.h: large blocks taken straight from the kernel (mmap) and given straight back
// (munmap). malloc keeps freed large blocks in its per-thread arenas for reuse, so memory the
// kernels no longer need stayed held by the process; mapped blocks leave when they are freed.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace fastrnn {

// `bytes` of zeroed memory, page aligned; std::bad_alloc when the system has none.
inline void* map_memory(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

inline void unmap_memory(void* p, std::size_t bytes) {
  if (p) munmap(p, bytes);
}

}  // namespace fastrnn
