// scratch.cpp: the per-thread arenas behind Scratch (scratch.h) and their registry, through
// which release_idle_arenas() frees the arenas of every thread that is not inside a call (pool
// workers included) and show_config() reports what they hold. Arena memory is mapped, so what
// is freed leaves the process (mapped_memory.h). A forked child drops the other threads' arenas.
#include "scratch.h"

#include <pthread.h>

#include <algorithm>
#include <vector>

#include "mapped_memory.h"

namespace fastrnn {

namespace {

struct Owner;
thread_local Owner* current = nullptr;  // this thread's arenas, if any (the child keeps the forking thread's)

struct Registry {
  std::mutex mutex;
  std::vector<ThreadArenas*> arenas;
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: threads may exit after static destruction
  return *r;
}

void free_slots(ThreadArenas& a) {
  for (int s = 0; s < ThreadArenas::kCount; ++s) {
    unmap_memory(a.base[s], static_cast<std::size_t>(a.capacity[s].load()));
    a.base[s] = nullptr;
    a.capacity[s] = 0;
    a.used[s] = a.wanted[s] = 0;
  }
}

// Owns the calling thread's arenas: registered when the thread first needs scratch memory,
// unregistered and freed when the thread exits.
struct Owner {
  ThreadArenas arenas;
  Owner() {
    current = this;
    std::lock_guard<std::mutex> lock(registry().mutex);
    registry().arenas.push_back(&arenas);
  }
  ~Owner() {
    {
      std::lock_guard<std::mutex> lock(registry().mutex);
      auto& list = registry().arenas;
      list.erase(std::remove(list.begin(), list.end(), &arenas), list.end());
    }
    free_slots(arenas);
    current = nullptr;
  }
};

// fork: the registry's lock is held across it (parent and child unlock); in the child, only the
// forking thread exists, so the other threads' arenas are freed and forgotten.
void before_fork() { registry().mutex.lock(); }
void after_fork_in_parent() { registry().mutex.unlock(); }
void after_fork_in_child() {
  auto& list = registry().arenas;
  for (ThreadArenas* a : list)
    if (!current || a != &current->arenas) free_slots(*a);
  list.assign(current ? 1 : 0, current ? &current->arenas : nullptr);
  registry().mutex.unlock();
}
const int fork_handlers = pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);

}  // namespace

ThreadArenas& thread_arenas() {
  thread_local Owner owner;
  return owner.arenas;
}

void grow_arena(ThreadArenas& a, int slot) {
  unmap_memory(a.base[slot], static_cast<std::size_t>(a.capacity[slot].load()));
  a.base[slot] = nullptr;
  a.capacity[slot] = 0;
  a.base[slot] = static_cast<char*>(map_memory(static_cast<std::size_t>(a.wanted[slot])));
  a.capacity[slot] = a.wanted[slot];
}

char* map_scratch(int64_t bytes) { return static_cast<char*>(map_memory(static_cast<std::size_t>(bytes))); }
void unmap_scratch(char* p, int64_t bytes) { unmap_memory(p, static_cast<std::size_t>(bytes)); }

int64_t release_idle_arenas() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  int64_t freed = 0;
  for (ThreadArenas* a : registry().arenas) {
    std::unique_lock<std::mutex> idle(a->in_call, std::try_to_lock);
    if (!idle) continue;  // inside a call now: its arenas stay
    for (int s = 0; s < ThreadArenas::kCount; ++s) freed += a->capacity[s];
    free_slots(*a);
  }
  return freed;
}

int64_t arena_bytes() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  int64_t total = 0;
  for (const ThreadArenas* a : registry().arenas)
    for (int s = 0; s < ThreadArenas::kCount; ++s) total += a->capacity[s];
  return total;
}

int arena_threads() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  int n = 0;
  for (const ThreadArenas* a : registry().arenas) n += a->capacity[0] + a->capacity[1] > 0;
  return n;
}

}  // namespace fastrnn
