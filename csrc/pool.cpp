// pool.cpp: the persistent workers behind parallel_run and the futex-backed barrier (pool.h).
// Compiled once (not per SIMD level). Workers are started lazily, grown on demand, and
// recreated after a fork (the child has none of the parent's threads).
#include "pool.h"
#include "tuning.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace fastrnn {

namespace {

// How long a waiting thread spins before it sleeps (tuning.h), in TSC ticks (~2.3 GHz). Idle
// workers waiting for a job give their core back soon (200 us); a thread at a step barrier spins
// much longer (5 ms): its partner is due within a step, and on these VMs a futex sleep costs far
// more than a step (a vCPU that went idle takes up to milliseconds to run again, so the woken
// thread is late at the next barrier, where the other one sleeps in turn).
uint64_t ticks(double us) { return static_cast<uint64_t>(us * 2300); }

void futex_wait(std::atomic<int>& word, int value) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<int>& word) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

struct Pool {
  std::mutex busy;                    // one job at a time
  std::vector<std::thread> workers;   // worker w runs thread index w + 1
  alignas(64) std::atomic<int> job{0};        // even: job job/2 published; odd: being written
  std::atomic<int> job_sleepers{0};
  alignas(64) std::atomic<int> remaining{0};  // workers still running the job
  std::atomic<int> done{0};                   // bumped when remaining reaches 0
  std::atomic<int> done_sleepers{0};
  std::atomic<JobFn> fn{nullptr};
  std::atomic<void*> ctx{nullptr};
  std::atomic<int> threads{1};
  std::atomic<unsigned> mxcsr{0};  // the caller's floating-point mode (denormals.h), which workers adopt
};

Pool* pool = new Pool;  // leaked on purpose: workers may outlive static destructors
thread_local bool inside_job = false;

// A forked child has only the forking thread: the parent's workers, and whoever held `busy` (a
// kernel running in another thread), are not there. It starts a pool of its own; the old one,
// its mutex perhaps locked forever, is left alone.
void after_fork_in_child() {
  pool = new Pool;
  inside_job = false;
}
const int fork_handler = pthread_atfork(nullptr, nullptr, after_fork_in_child);

// OMP_NUM_THREADS if set (a habit of NumPy and PyTorch users), else the CPUs this process may use.
int default_threads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env && std::atoi(env) > 0) return std::atoi(env);
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
  return std::max(1u, std::thread::hardware_concurrency());
}
std::atomic<int> thread_count{default_threads()};  // one value for the whole process
std::atomic<int64_t> jobs_run{0};  // jobs handed to workers (show_config; tests of small calls)

void worker_loop(Pool* p, int index, int seen) {  // seen: the job count when it was started
  inside_job = true;
  for (;;) {
    wait_while_equal(p->job, seen, p->job_sleepers, ticks(tuning().idle_spin_us));
    // Read the job's parameters as one snapshot: a worker that sits a job out may wake only
    // after the next job was published, and must see that job's parameters with its number.
    int threads;
    unsigned mxcsr;
    JobFn fn;
    void* ctx;
    for (;;) {  // a sequence lock: job is odd while the caller writes the parameters
      seen = p->job.load(std::memory_order_seq_cst);
      if (seen % 2) continue;
      threads = p->threads.load(std::memory_order_relaxed);
      fn = p->fn.load(std::memory_order_relaxed);
      ctx = p->ctx.load(std::memory_order_relaxed);
      mxcsr = p->mxcsr.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (p->job.load(std::memory_order_seq_cst) == seen) break;
    }
    if (index >= threads) continue;
    _mm_setcsr(mxcsr);
    fn(ctx, index, threads);
    _mm_sfence();  // the job's streaming stores (stream_lanes) visible before it reports done
    if (p->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      p->done.fetch_add(1, std::memory_order_seq_cst);
      wake_all(p->done, p->done_sleepers);
    }
  }
}

}  // namespace

bool wait_while_equal(std::atomic<int>& word, int value, std::atomic<int>& sleepers, uint64_t spin) {
  const uint64_t start = __rdtsc();
  while (word.load(std::memory_order_acquire) == value)
    if (__rdtsc() - start > spin) {
      sleepers.fetch_add(1, std::memory_order_seq_cst);
      while (word.load(std::memory_order_seq_cst) == value) futex_wait(word, value);
      sleepers.fetch_sub(1, std::memory_order_seq_cst);
      return true;
    }
  return false;
}

void wake_all(std::atomic<int>& word, std::atomic<int>& sleepers) {
  if (sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(word);
}

bool Barrier::wait() {
  const int gen = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    wake_all(generation_, sleepers_);
    return false;
  }
  return wait_while_equal(generation_, gen, sleepers_, ticks(tuning().barrier_spin_us));
}

Tuning& tuning() {
  static Tuning* knobs = new Tuning;  // never destroyed: workers may read it after static destruction
  return *knobs;
}

int pool_threads() { return thread_count.load(std::memory_order_relaxed); }

void set_pool_threads(int threads) { thread_count.store(std::max(1, threads), std::memory_order_relaxed); }

int64_t pool_jobs() { return jobs_run.load(std::memory_order_relaxed); }

void parallel_run(int threads, JobFn fn, void* ctx) {
  if (threads <= 1 || inside_job) return fn(ctx, 0, 1);
  Pool* p = pool;
  std::lock_guard<std::mutex> lock(p->busy);
  jobs_run.fetch_add(1, std::memory_order_relaxed);
  while (static_cast<int>(p->workers.size()) < threads - 1) {
    p->workers.emplace_back(worker_loop, p, static_cast<int>(p->workers.size()) + 1, p->job.load());
    p->workers.back().detach();
  }
  p->remaining.store(threads - 1, std::memory_order_relaxed);
  const int done = p->done.load(std::memory_order_relaxed);
  p->job.fetch_add(1, std::memory_order_seq_cst);  // odd: parameters being written
  p->fn.store(fn, std::memory_order_relaxed);
  p->ctx.store(ctx, std::memory_order_relaxed);
  p->threads.store(threads, std::memory_order_relaxed);
  p->mxcsr.store(_mm_getcsr(), std::memory_order_relaxed);
  p->job.fetch_add(1, std::memory_order_seq_cst);  // even: start the job
  wake_all(p->job, p->job_sleepers);
  inside_job = true;
  fn(ctx, 0, threads);
  _mm_sfence();  // as in worker_loop
  inside_job = false;
  wait_while_equal(p->done, done, p->done_sleepers, ticks(tuning().idle_spin_us));
}

}  // namespace fastrnn
