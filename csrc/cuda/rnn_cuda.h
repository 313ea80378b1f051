// rnn_cuda.h: SimpleRNN and LSTM forward and backward on an NVIDIA GPU, the CUDA twins of
// simple_rnn.h and lstm.h: same RnnProblem (common.h), same argument structs, same results.
// Every pointer, RnnProblem's lengths, starts and order included, is device memory on the current device; work is
// queued on ctx.stream and the call returns without waiting. Not here: allocating or copying
// the arrays (the caller's job; bindings_cuda.cpp does it for Python).
#pragma once
#include <cuda_runtime_api.h>

#include "../common.h"
#include "../gru.h"
#include "../lstm.h"
#include "../simple_rnn.h"

struct cublasContext;  // cublasHandle_t, without pulling cuBLAS headers into the kernels

namespace fastrnn {
namespace cuda {

// Where the work runs: a stream and a cuBLAS handle created for the current device; whether the
// persistent kernels may be used where the shape fits, and whether the last call used one.
struct Context {
  cudaStream_t stream = nullptr;
  cublasContext* blas = nullptr;
  bool allow_persistent = true;
  mutable bool ran_persistent = false;
};

// The cuBLAS handle of the calling thread for the current device (created on first use).
cublasContext* blas_handle();

// Forward, training or inference. Shapes as in simple_rnn.h / lstm.h:
//   x (B,T,D) or (T,B,D); kernel (D,G*H); recurrent_kernel (H,G*H); bias (G*H,); h0, c0 (B,H);
//   outputs like x with H columns (zero past a sequence's length); h_T, c_T (B,H);
//   LSTM gates (T,B,4H) and cells (T,B,H), time-major whatever x's layout, or null for inference.
// x @ kernel for all steps is one cuBLAS product. Small problems (persistent.cuh's limits) then
// run all steps in one persistent kernel (persistent.cu) when ctx.allow_persistent; otherwise
// each step is a cuBLAS product with recurrent_kernel and one fused kernel for bias,
// nonlinearities and the state update.
template <typename T>
void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a, const Context& ctx);
template <typename T>
void lstm_forward(const RnnProblem& p, const LstmForward<T>& a, const Context& ctx);

// Backward through time. Every gradient is written (not accumulated): dx like x, dh0/dc0 (B,H),
// dkernel (D,G*H), drecurrent_kernel (H,G*H), dbias (G*H,). d_outputs, d_h, d_c may be null (zero).
// The time loop is persistent_backward.cu's kernel for small states (as forward), else a fused
// kernel and a cuBLAS product per step; the weight gradients are three large products and one
// column sum after it.
template <typename T>
void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a, const Context& ctx);
template <typename T>
void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a, const Context& ctx);

// The GRU (gru.h's shapes, caches and both reset_after variants), always per step (gru.cu).
template <typename T>
void gru_forward(const RnnProblem& p, const GruForward<T>& a, const Context& ctx);
template <typename T>
void gru_backward(const RnnProblem& p, const GruBackward<T>& a, const Context& ctx);

// The persistent kernels (the Persistent RNN idea): each block keeps its part of
// recurrent_kernel in shared memory for all steps: all of it for whole sequences per block (small
// H, no barrier), else a slice of the units for all sequences (small B, one grid barrier per
// step). They return false, having done nothing, when the shape does not fit (persistent.cuh's
// limits, shared memory, no cooperative launch). Forward: the whole call, gates/cells written
// when non-null.
// Backward: only the time loop, writing dz_all (T*B, G*H, the gradient at the pre-activations
// per position, zero at padding positions), dh0 and dc0.
template <typename T>
bool simple_rnn_forward_persistent(const RnnProblem& p, const SimpleRnnForward<T>& a, const Context& ctx);
template <typename T>
bool lstm_forward_persistent(const RnnProblem& p, const LstmForward<T>& a, const Context& ctx);
template <typename T>
bool simple_rnn_backward_loop_persistent(const RnnProblem& p, const SimpleRnnBackward<T>& a, T* dz_all,
                                         const Context& ctx);
template <typename T>
bool lstm_backward_loop_persistent(const RnnProblem& p, const LstmBackward<T>& a, T* dz_all, const Context& ctx);

}  // namespace cuda
}  // namespace fastrnn
