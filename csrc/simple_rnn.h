// simple_rnn.h: SimpleRNN forward and backward through time on the CPU.
//   h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
// Shape letters as in common.h. The kernels exist once per SIMD level (namespaces baseline,
// avx2, avx512); dispatch.h picks one at run time. Every output is written, never accumulated.
#pragma once
#include "common.h"

namespace fastrnn {

template <typename T>
struct SimpleRnnForward {
  const T* x;                 // (B,T,D) or (T,B,D)
  const T* kernel;            // (D,H)
  const T* recurrent_kernel;  // (H,H)
  const T* bias;              // (H,)
  const T* h0;                // (B,H)
  T* outputs;                 // (B,T,H) or (T,B,H): h after consuming each position; 0 past a length
  T* h_T;                     // (B,H): the state after each sequence's last valid step
  T* saved_outputs = nullptr;  // like outputs: the copy backward reads; null for inference (CPU kernels)
};

template <typename T>
struct SimpleRnnBackward {
  const T* x;                 // forward's inputs, as above
  const T* kernel;
  const T* recurrent_kernel;
  const T* h0;
  const T* outputs;           // forward's outputs (the cache)
  const T* d_outputs;         // like outputs, or null for zero
  const T* d_h;               // (B,H) gradient on h_T, or null for zero
  T* dx;                      // like x; may be null (not wanted) for the CPU kernels only
  T* dh0;                     // (B,H)
  T* dkernel;                 // (D,H)
  T* drecurrent_kernel;       // (H,H)
  T* dbias;                   // (H,)
};

#define FASTRNN_DECLARE_SIMPLE_RNN(isa)                                        \
  namespace isa {                                                              \
  template <typename T>                                                        \
  void simple_rnn_forward(const RnnProblem& p, const SimpleRnnForward<T>& a);  \
  template <typename T>                                                        \
  void simple_rnn_backward(const RnnProblem& p, const SimpleRnnBackward<T>& a); \
  }
FASTRNN_DECLARE_SIMPLE_RNN(baseline)
FASTRNN_DECLARE_SIMPLE_RNN(avx2)
FASTRNN_DECLARE_SIMPLE_RNN(avx512)
#undef FASTRNN_DECLARE_SIMPLE_RNN

}  // namespace fastrnn
