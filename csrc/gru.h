// gru.h: GRU forward and backward through time on the CPU, Keras gate order z, r, h, with the
// reset gate applied after the recurrent product (reset_after=True: Keras 3's default, PyTorch's
// nn.GRU):
//   x_z, x_r, x_h = x_t @ kernel + bias          r_z, r_r, r_h = h_{t-1} @ recurrent_kernel + recurrent_bias
//   z = ra(x_z + r_z);  r = ra(x_r + r_r);  hh = act(x_h + r * r_h);  h_t = z * h_{t-1} + (1 - z) * hh
// or before it (reset_after=False, Keras 2's default; recurrent_bias null, one bias):
//   hh = act(x_h + (r * h_{t-1}) @ recurrent_kernel_h + bias_h), r_z and r_r as above without a bias.
// Shape letters as in common.h (G = 3). One copy per SIMD level, like simple_rnn.h.
#pragma once
#include "common.h"

namespace fastrnn {

template <typename T>
struct GruForward {
  const T* x;                 // (B,T,D) or (T,B,D)
  const T* kernel;            // (D,3H)
  const T* recurrent_kernel;  // (H,3H)
  const T* bias;              // (3H,): the input bias (the only one with reset_after=False)
  const T* recurrent_bias;    // (3H,) with reset_after, else null
  const T* h0;                // (B,H)
  T* outputs;                 // (B,T,H) or (T,B,H): h_t per position; 0 at padding positions
  T* h_T;                     // (B,H)
  T* gates;                   // (T,B,4H): z, r, hh and r_h (reset_after: h_{t-1} @ recurrent_kernel_h +
                              // recurrent_bias_h; else (r * h_{t-1}) @ recurrent_kernel_h) per position,
                              // kept for backward; null for inference
  T* saved_outputs = nullptr;  // like outputs: the copy backward reads; null for inference
  bool reset_after = true;
};

template <typename T>
struct GruBackward {
  const T* x;                 // forward's inputs and caches, as above
  const T* kernel;
  const T* recurrent_kernel;
  const T* h0;
  const T* outputs;
  const T* gates;
  const T* d_outputs;         // like outputs, or null for zero
  const T* d_h;               // (B,H) gradient on h_T, or null
  T* dx;                      // like x, or null (not wanted)
  T* dh0;                     // (B,H)
  T* dkernel;                 // (D,3H)
  T* drecurrent_kernel;       // (H,3H)
  T* dbias;                   // (3H,)
  T* drecurrent_bias;         // (3H,) with reset_after, else null
  bool reset_after = true;
};

#define FASTRNN_DECLARE_GRU(isa)                                   \
  namespace isa {                                                  \
  template <typename T>                                            \
  void gru_forward(const RnnProblem& p, const GruForward<T>& a);   \
  template <typename T>                                            \
  void gru_backward(const RnnProblem& p, const GruBackward<T>& a); \
  }
FASTRNN_DECLARE_GRU(baseline)
FASTRNN_DECLARE_GRU(avx2)
FASTRNN_DECLARE_GRU(avx512)
#undef FASTRNN_DECLARE_GRU

}  // namespace fastrnn
