// pool.h: fastrnn's own persistent worker threads and a step barrier. Waiting threads spin on a
// plain load for a bounded time (no PAUSE: on KVM guests pause loops trigger costly exits),
// then sleep on a futex, so idle workers never steal a core from other work. Not OpenMP:
// libgomp's idle spinning is what made these VMs slow. Fork-safe: a child starts its own workers.
#pragma once
#include <atomic>
#include <cstdint>

namespace fastrnn {

int pool_threads();  // threads a kernel may use, process-wide: set_pool_threads, else OMP_NUM_THREADS, else CPUs
void set_pool_threads(int threads);
int64_t pool_jobs();  // how many calls of parallel_run have used the workers so far

// The cost model that decides whether a job is worth more than one thread: a worker that went to
// sleep takes tens of microseconds to wake on a quiet machine and a scheduler slice (milliseconds)
// on a busy one, so only jobs estimated at kMinParallelMicros or more on one thread use the others.
// Rates of one core on small problems; measured: bench/small_calls.py, bench/RESULTS.md.
constexpr double kFlopsPerMicro = 1e5, kBytesPerMicro = 5e3, kMinParallelMicros = 100;
inline int threads_for(double micros) { return micros < kMinParallelMicros ? 1 : pool_threads(); }
inline double product_micros(double flops) { return flops / kFlopsPerMicro; }
inline double copy_micros(double bytes) { return bytes / kBytesPerMicro; }

// Runs fn(ctx, thread, threads) on `threads` threads (the caller is thread 0) and returns when
// all are done, every thread in the caller's floating-point mode (MXCSR: denormals.h).
// Concurrent callers take turns; a call from inside a job runs on its caller alone.
using JobFn = void (*)(void* ctx, int thread, int threads);
void parallel_run(int threads, JobFn fn, void* ctx);

template <typename F>
void parallel_for_threads(int threads, F& f) {  // f(thread, threads) on each thread
  parallel_run(threads, [](void* ctx, int t, int n) { (*static_cast<F*>(ctx))(t, n); }, &f);
}

// A reusable barrier for the threads of one job: one wait() per thread per phase. wait() says
// whether this thread had to sleep (another thread came more than the spin time late).
class Barrier {
 public:
  explicit Barrier(int threads) : threads_(threads) {}
  bool wait();

 private:
  const int threads_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> generation_{0};
  std::atomic<int> sleepers_{0};
};

// Spin (plain loads, for `spin` TSC ticks) then futex-sleep until *word != value; true if it slept.
bool wait_while_equal(std::atomic<int>& word, int value, std::atomic<int>& sleepers, uint64_t spin);
void wake_all(std::atomic<int>& word, std::atomic<int>& sleepers);

}  // namespace fastrnn
