// tuning.h: the knobs that force a choice the kernels otherwise make themselves, for tests and
// for tuning on a given machine (fastrnn.tuning.set from Python; show_config() prints them).
// Read by every call; set them between calls. Not per SIMD level.
#pragma once
#include <atomic>

namespace fastrnn {

enum class SplitChoice : int { Automatic = 0, Rows = 1, Units = 2 };         // recurrence.h loop_split
enum class InputProductChoice : int { Automatic = 0, Blas = 1, Fused = 2, Packed = 3 };  // forward_loop.h

struct Tuning {
  std::atomic<int> split{0};               // SplitChoice
  std::atomic<int> input_product{0};       // InputProductChoice
  std::atomic<double> idle_spin_us{200};   // pool.cpp: how long an idle worker spins before it sleeps
  std::atomic<double> barrier_spin_us{5000};  // pool.cpp: how long a thread at a step barrier spins
};

Tuning& tuning();  // the process's knobs (pool.cpp)

}  // namespace fastrnn
