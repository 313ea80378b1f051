// dispatch.h: picks the kernels' SIMD level at run time (the CPU's best, unless a test or
// a user asks for a lower one), so one wheel runs on any x86-64 CPU.
#pragma once
#include <string>

#include "elementwise.h"
#include "gru.h"
#include "lstm.h"
#include "simple_rnn.h"

namespace fastrnn {

enum class SimdLevel : int { Baseline = 0, Avx2 = 1, Avx512 = 2 };

SimdLevel detected_simd_level();  // the best level this CPU supports
SimdLevel simd_level();           // the level in use
void set_simd_level(SimdLevel level);  // throws std::invalid_argument above detected_simd_level()
const char* simd_level_name(SimdLevel level);

template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a);
template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a);
template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a);
template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a);
template <typename T>
void gru_forward(const RnnProblem& p, const GruForward<T>& a);
template <typename T>
void gru_backward(const RnnProblem& p, const GruBackward<T>& a);
template <typename T>
void activate_array(const T* x, T* y, int64_t n, Activation act);

}  // namespace fastrnn
