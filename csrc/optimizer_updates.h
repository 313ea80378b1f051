// optimizer_updates.h: one optimizer step on a weight array, in a single pass over it, for the
// cpu backend of fastrnn.optimizers, whose NumPy code is the twin: each element goes through the
// same operations in the same order and precision as there (the coefficients arrive already
// rounded to T, as NumPy rounds a Python float), so the bits match. NumPy makes a temporary
// array per operation, ten passes for an Adam step; here it is one.
#pragma once
#include <cstdint>

namespace fastrnn {

// Each step updates w (the weights) and its slots (m, v) in place from the gradient g, either
// on n values (rows null: all arrays hold n values), or on the rows rows[0, n) of a table and of
// its slots (dim values each), whose gradients are g's rows 0 .. n-1: an Embedding's sparse
// gradient, rows distinct (NumPy's twin gathers the rows, steps and scatters them back).

// Adam: m += c1 * (g - m); v += c2 * (g * g - v); w -= alpha * m / (sqrt(v) + epsilon)
template <typename T>
void adam_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T* v, T c1, T c2, T alpha,
                 T epsilon);

// RMSprop: v *= rho; v += c * g * g; w -= lr * g / sqrt(v + epsilon)
template <typename T>
void rmsprop_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* v, T rho, T c, T lr,
                    T epsilon);

// SGD with momentum: m *= momentum; m -= lr * g; then w += momentum * m - lr * g (Nesterov) or
// w += m
template <typename T>
void momentum_update(int64_t n, const int64_t* rows, int64_t dim, T* w, const T* g, T* m, T momentum, T lr,
                     bool nesterov);

}  // namespace fastrnn
