// array_pool.cpp: see array_pool.h. Each block carries its size in a 64-byte header, so the
// NumPy capsule that owns it needs only the pointer. Blocks are mapped memory, so a freed one
// leaves the process (mapped_memory.h); the pool's lock is held across a fork.
#include "array_pool.h"

#include <pthread.h>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>

#include "mapped_memory.h"

namespace fastrnn {

namespace {
constexpr std::size_t kHeader = 64;

struct Pool {
  std::mutex mutex;
  std::deque<char*> cached;  // most recently returned last
  std::size_t cached_bytes = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: capsules may outlive static destruction
  return *p;
}

std::size_t& size_of(char* block) { return *reinterpret_cast<std::size_t*>(block - kHeader); }
void free_block(char* block) { unmap_memory(block - kHeader, kHeader + size_of(block)); }

void before_fork() { pool().mutex.lock(); }
void after_fork() { pool().mutex.unlock(); }
const int fork_handlers = pthread_atfork(before_fork, after_fork, after_fork);
}  // namespace

void* pool_allocate(std::size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    for (auto it = p.cached.rbegin(); it != p.cached.rend(); ++it) {
      if (size_of(*it) != bytes) continue;
      char* block = *it;
      p.cached.erase(std::next(it).base());
      p.cached_bytes -= bytes;
      return block;
    }
  }
  char* block = static_cast<char*>(map_memory(kHeader + bytes)) + kHeader;
  size_of(block) = bytes;
  return block;
}

void pool_release(void* memory) {
  char* block = static_cast<char*>(memory);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.cached.push_back(block);
  p.cached_bytes += size_of(block);
  while (p.cached_bytes > kPoolBudgetBytes) {  // oldest first
    p.cached_bytes -= size_of(p.cached.front());
    free_block(p.cached.front());
    p.cached.pop_front();
  }
}

std::size_t pool_cached_bytes() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  return pool().cached_bytes;
}

void pool_clear() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (char* block : p.cached) free_block(block);
  p.cached.clear();
  p.cached_bytes = 0;
}

}  // namespace fastrnn
