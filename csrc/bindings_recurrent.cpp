// bindings_recurrent.cpp: the recurrent kernels' Python functions (_core.simple_rnn_forward, ...):
// checks of what validation.py already checked (dtype, C order, sizes, index ranges) as a last line
// of defence, the result arrays, and the call without the GIL. No arithmetic here.
#include <array>
#include <vector>

#include "bindings.h"
#include "dispatch.h"

namespace fastrnn {
namespace {

// dkernel (D, N), drecurrent_kernel (H, N) and dbias (N,): views of one (D + H + 1, N) array, so
// that backward's product over all steps writes them in place (weight_gradients.h WeightGradients).
template <typename T>
std::array<py::array_t<T>, 3> weight_gradient_arrays(int64_t D, int64_t H, int64_t N) {
  auto block = empty<T>({D + H + 1, N});
  T* data = block.mutable_data();
  return {py::array_t<T>({D, N}, data, block), py::array_t<T>({H, N}, data + D * N, block),
          py::array_t<T>({N}, data + (D + H) * N, block)};
}

std::vector<py::ssize_t> sequence_shape(const RnnProblem& p, int64_t width) {
  if (p.time_major) return {p.T, p.B, width};
  return {p.B, p.T, width};
}

// Which positions each sequence consumes (common.h): lengths, starts, order and order_steps, as
// validation.py made them; checked again here only for what would read out of bounds.
struct Sequences {
  py::object lengths, starts, order, order_steps;
};

RnnProblem problem(const py::array& x, int64_t H, const Sequences& seq, int activation, int recurrent_activation,
                   bool reverse, bool time_major) {
  if (x.ndim() != 3) throw std::invalid_argument("_core: argument 'x' must be 3-D");
  RnnProblem p;
  p.time_major = time_major;
  p.T = x.shape(time_major ? 0 : 1);
  p.B = x.shape(time_major ? 1 : 0);
  p.D = x.shape(2);
  p.H = H;
  p.reverse = reverse;
  p.activation = static_cast<Activation>(activation);
  p.recurrent_activation = static_cast<Activation>(recurrent_activation);
  p.lengths = input<int32_t>(seq.lengths, p.B, "lengths");
  p.starts = input<int32_t>(seq.starts, p.B, "starts");
  p.order = input<int32_t>(seq.order, p.B * p.T, "order");
  p.order_steps = input<int32_t>(seq.order_steps, p.B * p.T, "order_steps");
  if (!p.order != !p.order_steps) throw std::invalid_argument("_core: order and order_steps go together");
  for (int64_t b = 0; b < p.B; ++b)
    if (p.length(b) < 0 || p.start(b) < 0 || p.start(b) + p.length(b) > p.T)
      throw std::invalid_argument("_core: lengths and starts out of [0, T]");
  for (int64_t i = 0; p.order && i < p.B * p.T; ++i)
    if (p.order[i] < 0 || p.order[i] >= p.T || p.order_steps[i] < 0 || p.order_steps[i] >= p.T)
      throw std::invalid_argument("_core: order out of [0, T)");
  return p;
}

template <typename T>
py::tuple simple_rnn_forward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                               const py::object& bias, const py::object& h0, const Sequences& seq,
                               int activation, bool reverse, bool time_major, bool training) {
  const int64_t H = py::cast<py::array>(bias).size();
  const RnnProblem p = problem(x, H, seq, activation, 0, reverse, time_major);
  auto outputs = empty<T>(sequence_shape(p, H));
  auto h_T = empty<T>({p.B, H});
  auto [saved, saved_ptr] = optional_array<T>(training, sequence_shape(p, H));  // outputs for backward
  SimpleRnnForward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * H, "kernel"),
                        input<T>(recurrent_kernel, H * H, "recurrent_kernel"), input<T>(bias, H, "bias"),
                        input<T>(h0, p.B * H, "h0"), outputs.mutable_data(), h_T.mutable_data(), saved_ptr};
  run_recurrent_kernel([&] { simple_rnn_forward<T>(p, a); });
  return py::make_tuple(outputs, h_T, saved);
}

template <typename T>
py::tuple simple_rnn_backward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                                const py::object& h0, const py::object& outputs, const Sequences& seq,
                                int activation, bool reverse, bool time_major, const py::object& d_outputs,
                                const py::object& d_h, bool input_gradient) {
  const int64_t H = py::cast<py::array>(h0).shape(1);
  const RnnProblem p = problem(x, H, seq, activation, 0, reverse, time_major);
  auto [dx, dx_ptr] = optional_array<T>(input_gradient, sequence_shape(p, p.D));
  auto dh0 = empty<T>({p.B, H});
  auto [dkernel, drecurrent, dbias] = weight_gradient_arrays<T>(p.D, H, H);
  const int64_t n = p.T * p.B * H;
  SimpleRnnBackward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * H, "kernel"),
                         input<T>(recurrent_kernel, H * H, "recurrent_kernel"), input<T>(h0, p.B * H, "h0"),
                         input<T>(outputs, n, "outputs"), input<T>(d_outputs, n, "d_outputs"),
                         input<T>(d_h, p.B * H, "d_h"), dx_ptr, dh0.mutable_data(),
                         dkernel.mutable_data(), drecurrent.mutable_data(), dbias.mutable_data()};
  run_recurrent_kernel([&] { simple_rnn_backward<T>(p, a); });
  return py::make_tuple(dx, dh0, dkernel, drecurrent, dbias);
}

template <typename T>
py::tuple lstm_forward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                         const py::object& bias, const py::object& h0, const py::object& c0,
                         const Sequences& seq, int activation, int recurrent_activation, bool reverse,
                         bool time_major, bool training) {
  const int64_t H = py::cast<py::array>(bias).size() / 4;
  const RnnProblem p = problem(x, H, seq, activation, recurrent_activation, reverse, time_major);
  auto outputs = empty<T>(sequence_shape(p, H));
  auto h_T = empty<T>({p.B, H});
  auto c_T = empty<T>({p.B, H});
  auto [saved, saved_ptr] = optional_array<T>(training, sequence_shape(p, H));  // outputs for backward
  // the training cache, time-major whatever x's layout (common.h)
  auto [gates, gates_ptr] = optional_array<T>(training, {p.T, p.B, 4 * H});
  auto [cells, cells_ptr] = optional_array<T>(training, {p.T, p.B, H});
  LstmForward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 4 * H, "kernel"),
                   input<T>(recurrent_kernel, H * 4 * H, "recurrent_kernel"), input<T>(bias, 4 * H, "bias"),
                   input<T>(h0, p.B * H, "h0"), input<T>(c0, p.B * H, "c0"), outputs.mutable_data(),
                   h_T.mutable_data(), c_T.mutable_data(), gates_ptr, cells_ptr, saved_ptr};
  run_recurrent_kernel([&] { lstm_forward<T>(p, a); });
  return py::make_tuple(outputs, h_T, c_T, gates, cells, saved);
}

template <typename T>
py::tuple lstm_backward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                          const py::object& h0, const py::object& c0, const py::object& outputs,
                          const py::object& gates, const py::object& cells, const Sequences& seq,
                          int activation, int recurrent_activation, bool reverse, bool time_major,
                          const py::object& d_outputs, const py::object& d_h, const py::object& d_c,
                          bool input_gradient) {
  const int64_t H = py::cast<py::array>(h0).shape(1);
  const RnnProblem p = problem(x, H, seq, activation, recurrent_activation, reverse, time_major);
  auto [dx, dx_ptr] = optional_array<T>(input_gradient, sequence_shape(p, p.D));
  auto dh0 = empty<T>({p.B, H});
  auto dc0 = empty<T>({p.B, H});
  auto [dkernel, drecurrent, dbias] = weight_gradient_arrays<T>(p.D, H, 4 * H);
  const int64_t n = p.T * p.B * H;
  LstmBackward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 4 * H, "kernel"),
                    input<T>(recurrent_kernel, H * 4 * H, "recurrent_kernel"), input<T>(h0, p.B * H, "h0"),
                    input<T>(c0, p.B * H, "c0"), input<T>(outputs, n, "outputs"),
                    input<T>(gates, 4 * n, "gates"), input<T>(cells, n, "cells"),
                    input<T>(d_outputs, n, "d_outputs"), input<T>(d_h, p.B * H, "d_h"),
                    input<T>(d_c, p.B * H, "d_c"), dx_ptr, dh0.mutable_data(), dc0.mutable_data(),
                    dkernel.mutable_data(), drecurrent.mutable_data(), dbias.mutable_data()};
  if (!a.gates || !a.cells) throw std::invalid_argument("_core: lstm_backward needs the training cache");
  run_recurrent_kernel([&] { lstm_backward<T>(p, a); });
  return py::make_tuple(dx, dh0, dc0, dkernel, drecurrent, dbias);
}


template <typename T>
py::tuple gru_forward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                        const py::object& bias, const py::object& recurrent_bias, const py::object& h0,
                        const Sequences& seq, int activation, int recurrent_activation, bool reverse, bool time_major,
                        bool training, bool reset_after) {
  const int64_t H = py::cast<py::array>(bias).size() / 3;
  const RnnProblem p = problem(x, H, seq, activation, recurrent_activation, reverse, time_major);
  auto outputs = empty<T>(sequence_shape(p, H));
  auto h_T = empty<T>({p.B, H});
  auto [saved, saved_ptr] = optional_array<T>(training, sequence_shape(p, H));  // outputs for backward
  auto [gates, gates_ptr] = optional_array<T>(training, {p.T, p.B, 4 * H});     // time-major (common.h)
  const T* rb = input<T>(recurrent_bias, 3 * H, "recurrent_bias");
  if (reset_after != (rb != nullptr)) throw std::invalid_argument("_core: recurrent_bias goes with reset_after");
  GruForward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 3 * H, "kernel"),
                  input<T>(recurrent_kernel, H * 3 * H, "recurrent_kernel"), input<T>(bias, 3 * H, "bias"), rb,
                  input<T>(h0, p.B * H, "h0"), outputs.mutable_data(), h_T.mutable_data(), gates_ptr, saved_ptr,
                  reset_after};
  run_recurrent_kernel([&] { gru_forward<T>(p, a); });
  return py::make_tuple(outputs, h_T, gates, saved);
}

template <typename T>
py::tuple gru_backward_t(const py::array& x, const py::object& kernel, const py::object& recurrent_kernel,
                         const py::object& h0, const py::object& outputs, const py::object& gates, const Sequences& seq,
                         int activation, int recurrent_activation, bool reverse, bool time_major,
                         const py::object& d_outputs, const py::object& d_h, bool input_gradient, bool reset_after) {
  const int64_t H = py::cast<py::array>(h0).shape(1);
  const RnnProblem p = problem(x, H, seq, activation, recurrent_activation, reverse, time_major);
  auto [dx, dx_ptr] = optional_array<T>(input_gradient, sequence_shape(p, p.D));
  auto dh0 = empty<T>({p.B, H});
  auto dkernel = empty<T>({p.D, 3 * H});
  auto drecurrent = empty<T>({H, 3 * H});
  auto dbias = empty<T>({reset_after ? 2 : 1, 3 * H});  // (2, 3H): input and recurrent biases
  const int64_t n = p.T * p.B * H;
  GruBackward<T> a{input<T>(x, p.T * p.B * p.D, "x"), input<T>(kernel, p.D * 3 * H, "kernel"),
                   input<T>(recurrent_kernel, H * 3 * H, "recurrent_kernel"), input<T>(h0, p.B * H, "h0"),
                   input<T>(outputs, n, "outputs"), input<T>(gates, 4 * n, "gates"),
                   input<T>(d_outputs, n, "d_outputs"), input<T>(d_h, p.B * H, "d_h"), dx_ptr, dh0.mutable_data(),
                   dkernel.mutable_data(), drecurrent.mutable_data(), dbias.mutable_data(),
                   reset_after ? dbias.mutable_data() + 3 * H : nullptr, reset_after};
  if (!a.gates) throw std::invalid_argument("_core: gru_backward needs the training cache");
  run_recurrent_kernel([&] { gru_backward<T>(p, a); });
  py::object bias_grad = reset_after ? py::object(dbias) : py::object(dbias.attr("reshape")(3 * H));
  return py::make_tuple(dx, dh0, dkernel, drecurrent, bias_grad);
}

}  // namespace

void bind_recurrent_kernels(py::module_& m) {
  // seq: (lengths, starts, order, order_steps) as validation.py made them (each an array or None)
  auto sequences = [](const py::tuple& seq) { return Sequences{seq[0], seq[1], seq[2], seq[3]}; };
  m.def("simple_rnn_forward", [=](const py::array& x, py::object k, py::object rk, py::object b, py::object h0,
                                  py::tuple seq, int act, bool reverse, bool time_major, bool training) {
    const Sequences s = sequences(seq);
    return is_float32(x) ? simple_rnn_forward_t<float>(x, k, rk, b, h0, s, act, reverse, time_major, training)
                         : simple_rnn_forward_t<double>(x, k, rk, b, h0, s, act, reverse, time_major, training);
  });
  m.def("simple_rnn_backward", [=](const py::array& x, py::object k, py::object rk, py::object h0, py::object out,
                                   py::tuple seq, int act, bool reverse, bool time_major, py::object dout,
                                   py::object dh, bool dx) {
    const Sequences s = sequences(seq);
    return is_float32(x)
               ? simple_rnn_backward_t<float>(x, k, rk, h0, out, s, act, reverse, time_major, dout, dh, dx)
               : simple_rnn_backward_t<double>(x, k, rk, h0, out, s, act, reverse, time_major, dout, dh, dx);
  });
  m.def("lstm_forward", [=](const py::array& x, py::object k, py::object rk, py::object b, py::object h0,
                            py::object c0, py::tuple seq, int act, int ract, bool reverse, bool time_major,
                            bool training) {
    const Sequences s = sequences(seq);
    return is_float32(x) ? lstm_forward_t<float>(x, k, rk, b, h0, c0, s, act, ract, reverse, time_major, training)
                         : lstm_forward_t<double>(x, k, rk, b, h0, c0, s, act, ract, reverse, time_major, training);
  });
  m.def("lstm_backward", [=](const py::array& x, py::object k, py::object rk, py::object h0, py::object c0,
                             py::object out, py::object gates, py::object cells, py::tuple seq, int act, int ract,
                             bool reverse, bool time_major, py::object dout, py::object dh, py::object dc,
                             bool dx) {
    const Sequences s = sequences(seq);
    return is_float32(x) ? lstm_backward_t<float>(x, k, rk, h0, c0, out, gates, cells, s, act, ract, reverse,
                                                  time_major, dout, dh, dc, dx)
                         : lstm_backward_t<double>(x, k, rk, h0, c0, out, gates, cells, s, act, ract, reverse,
                                                   time_major, dout, dh, dc, dx);
  });
  m.def("gru_forward", [=](const py::array& x, py::object k, py::object rk, py::object b, py::object rb, py::object h0,
                           py::tuple seq, int act, int ract, bool reverse, bool time_major, bool training,
                           bool reset_after) {
    const Sequences s = sequences(seq);
    return is_float32(x)
               ? gru_forward_t<float>(x, k, rk, b, rb, h0, s, act, ract, reverse, time_major, training, reset_after)
               : gru_forward_t<double>(x, k, rk, b, rb, h0, s, act, ract, reverse, time_major, training, reset_after);
  });
  m.def("gru_backward", [=](const py::array& x, py::object k, py::object rk, py::object h0, py::object out,
                            py::object gates, py::tuple seq, int act, int ract, bool reverse, bool time_major,
                            py::object dout, py::object dh, bool dx, bool reset_after) {
    const Sequences s = sequences(seq);
    return is_float32(x) ? gru_backward_t<float>(x, k, rk, h0, out, gates, s, act, ract, reverse, time_major, dout, dh,
                                                 dx, reset_after)
                         : gru_backward_t<double>(x, k, rk, h0, out, gates, s, act, ract, reverse, time_major, dout,
                                                  dh, dx, reset_after);
  });
}

}  // namespace fastrnn
