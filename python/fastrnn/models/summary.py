"""The Keras (tf.keras 2) text table a model prints: layer (type), output shape and parameter
count per layer (and, for a functional model, the layer calls it is connected to), then total,
trainable and non-trainable parameter counts.

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
    rows = model._summary_rows()
    functional = any(links is not None for _, _, links in rows)
    line_length = line_length or (98 if functional else 65)
    positions = positions or ((0.33, 0.55, 0.67, 1.0) if functional else (0.45, 0.85, 1.0))
    positions = [int(line_length * p) for p in positions]
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(headers, positions))
    print_fn("=" * line_length)
    for layer, shape, links in rows:
        fields = [f"{layer.name} ({type(layer).__name__})", shape, layer.count_params()]
        print_fn(_row(fields + ([links] if functional else []), positions))
        print_fn(" " * line_length)
    print_fn("=" * line_length)
    trainable = sum(w.size for w in model.trainable_weights)
    total = model.count_params()
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)
