"""The shape grid every fastrnn bench shares, and how it counts flops."""

# (T, B, D, H): time steps, batch, input features, units
SHAPES = [
    (100, 64, 512, 512),
    (28, 128, 28, 128),
    (500, 128, 32, 32),
    (100, 1, 256, 256),
    (100, 64, 64, 1024),
]
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
# Also timed with the gradient on the last state only (Keras' return_sequences=False): over 500
# steps it decays into float32's subnormal range, where x86 arithmetic slows ~100x unless the
# kernels flush it (fastrnn does; PyTorch by default does not).
LAST_STATE_SHAPES = [(500, 128, 32, 32)]


def forward_flops(cell, T, B, D, H):
    """Flops of the matrix products in forward: x @ kernel and h @ recurrent_kernel at every step.
    Element-wise work is not counted. Backward performs twice these products (dx and dkernel,
    dh and drecurrent_kernel), so forward+backward counts 3x."""
    return 2 * T * B * (D + H) * GATES[cell] * H
