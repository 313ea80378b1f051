// lstm.h: LSTM forward and backward through time on the CPU, Keras gate order i, f, c, o.
//   z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias = [z_i | z_f | z_c | z_o]
//   i, f, o = ra(z_i), ra(z_f), ra(z_o);  g = act(z_c)
//   c_t = f * c_{t-1} + i * g;            h_t = o * act(c_t)
// Shape letters as in common.h (G = 4 gates). One copy per SIMD level, like simple_rnn.h.
#pragma once
#include "common.h"

namespace fastrnn {

template <typename T>
struct LstmForward {
  const T* x;                 // (B,T,D) or (T,B,D)
  const T* kernel;            // (D,4H)
  const T* recurrent_kernel;  // (H,4H)
  const T* bias;              // (4H,)
  const T* h0;                // (B,H)
  const T* c0;                // (B,H)
  T* outputs;                 // (B,T,H) or (T,B,H): h_t per position; 0 past a length
  T* h_T;                     // (B,H)
  T* c_T;                     // (B,H)
  T* gates;                   // (T,B,4H): activated i, f, g, o per position, kept for backward;
                              // null for inference. Time-major whatever x's layout
  T* cells;                   // (T,B,H): c_t per position, for backward; null for inference
  T* saved_outputs = nullptr;  // like outputs: the copy backward reads; null for inference (CPU kernels)
};

template <typename T>
struct LstmBackward {
  const T* x;                 // forward's inputs and caches, as above
  const T* kernel;
  const T* recurrent_kernel;
  const T* h0;
  const T* c0;
  const T* outputs;
  const T* gates;             // (T,B,4H), as forward wrote them
  const T* cells;             // (T,B,H)
  const T* d_outputs;         // like outputs, or null for zero
  const T* d_h;               // (B,H) gradient on h_T, or null
  const T* d_c;               // (B,H) gradient on c_T, or null
  T* dx;                      // like x; may be null (not wanted) for the CPU kernels only
  T* dh0;                     // (B,H)
  T* dc0;                     // (B,H)
  T* dkernel;                 // (D,4H)
  T* drecurrent_kernel;       // (H,4H)
  T* dbias;                   // (4H,)
};

#define FASTRNN_DECLARE_LSTM(isa)                                    \
  namespace isa {                                                    \
  template <typename T>                                              \
  void lstm_forward(const RnnProblem& p, const LstmForward<T>& a);   \
  template <typename T>                                              \
  void lstm_backward(const RnnProblem& p, const LstmBackward<T>& a); \
  }
FASTRNN_DECLARE_LSTM(baseline)
FASTRNN_DECLARE_LSTM(avx2)
FASTRNN_DECLARE_LSTM(avx512)
#undef FASTRNN_DECLARE_LSTM

}  // namespace fastrnn
