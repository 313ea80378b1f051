"""The Keras (tf.keras 2) text table a Sequential model prints: layer (type), output shape and
parameter count per layer, then total, trainable and non-trainable parameter counts.

Only formatting; the counts come from the layers.
"""
from __future__ import annotations


def _row(fields, positions):
    line = ""
    for col, (field, end) in enumerate(zip(fields, positions)):
        start = positions[col - 1] if col else 0
        space = 2 if col != len(positions) - 1 else 0
        if col == 0:
            line += " "
        line += str(field)[:end - start - space]
        line += " " * (end - len(line))
    return line


def print_summary(model, line_length=None, positions=None, print_fn=None) -> None:
    """Print `model`'s summary table (to stdout, or line by line through print_fn).

    Example:
        >>> model.summary()  # Model: "sequential" / Layer (type) ... / Total params: 330,433
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has not been built yet: give the first layer an input_shape, "
                         "call model.build(input_shape), or fit it on data first")
    print_fn = print_fn or print
    line_length = line_length or 65
    positions = [int(line_length * p) for p in (positions or (0.45, 0.85, 1.0))]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(["Layer (type)", "Output Shape", "Param #"], positions))
    print_fn("=" * line_length)
    shape = model.input_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        print_fn(_row([f"{layer.name} ({type(layer).__name__})", str(shape), layer.count_params()], positions))
        print_fn(" " * line_length)
    print_fn("=" * line_length)
    trainable = sum(w.size for w in model.trainable_weights)
    total = model.count_params()
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)
