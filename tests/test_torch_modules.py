"""fastrnn.torch.LSTM / GRU / RNN against torch.nn.LSTM / GRU / RNN with the same state_dict
(outputs, states, gradients, packed sequences, dropout masks, trained weights loaded, a short
training run) and float64 gradcheck. The weight converters are tested in test_convert.py."""
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fastrnn.torch needs PyTorch (pip install torch)")
import fastrnn.torch as ft  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

# float32: the kernels and PyTorch round differently (fastrnn's own tanh/sigmoid, other summation
# orders); outputs of these small problems differ by a few ulp of their O(1) values.
F32_OUT, F32_GRAD = 1e-5, 1e-4
F64 = 1e-12


def make_pair(kind, dtype=torch.float64, seed=0, **kw):
    """(torch.nn module, fastrnn.torch module) with the same parameters."""
    torch.manual_seed(seed)
    ref = getattr(torch.nn, kind)(**kw).to(dtype)
    ours = getattr(ft, kind)(**kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def run_both(ref, ours, x, hx=None):
    """Outputs, final states and gradients (input, hx, parameters) of both modules on the same loss."""
    results = []
    for module in (ref, ours):
        xi = x.detach().clone().requires_grad_(True)
        hxi = None if hx is None else tuple(h.detach().clone().requires_grad_(True) for h in hx)
        arg = None if hxi is None else (hxi if len(hxi) == 2 else hxi[0])
        out, states = module(xi, arg)
        states = states if isinstance(states, tuple) else (states,)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        loss = (out * weights).sum() + sum((s * (k + 2)).sum() for k, s in enumerate(states))
        loss.backward()
        grads = [xi.grad] + ([] if hxi is None else [h.grad for h in hxi]) + [p.grad for p in module.parameters()]
        results.append(([out, *states], grads))
    return results


def assert_close(a, b, tol):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.detach().numpy(), v.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_lstm_matches_torch_float64(num_layers, bidirectional, batch_first, with_hx):
    ref, ours = make_pair("LSTM", input_size=5, hidden_size=4, num_layers=num_layers,
                          bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn((3, 7, 5) if batch_first else (7, 3, 5), dtype=torch.float64)
    L = num_layers * (2 if bidirectional else 1)
    hx = (torch.randn(L, 3, 4, dtype=torch.float64), torch.randn(L, 3, 4, dtype=torch.float64)) if with_hx else None
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours, x, hx)
    assert out_o[0].shape == out_r[0].shape
    assert_close(out_r, out_o, F64)
    assert_close(grads_r, grads_o, F64)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_gru_matches_torch_float64(num_layers, bidirectional, batch_first, with_hx):
    ref, ours = make_pair("GRU", input_size=5, hidden_size=4, num_layers=num_layers,
                          bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn((3, 7, 5) if batch_first else (7, 3, 5), dtype=torch.float64)
    L = num_layers * (2 if bidirectional else 1)
    hx = (torch.randn(L, 3, 4, dtype=torch.float64),) if with_hx else None
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours, x, hx)
    assert out_o[0].shape == out_r[0].shape and len(out_o) == 2  # output, h_n
    assert_close(out_r, out_o, F64)
    assert_close(grads_r, grads_o, F64)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_matches_torch_float64(nonlinearity, bidirectional, batch_first):
    ref, ours = make_pair("RNN", input_size=5, hidden_size=4, num_layers=2, nonlinearity=nonlinearity,
                          bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn((3, 7, 5) if batch_first else (7, 3, 5), dtype=torch.float64)
    hx = (torch.randn(4 if bidirectional else 2, 3, 4, dtype=torch.float64),)
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours, x, hx)
    assert_close(out_r, out_o, F64)
    assert_close(grads_r, grads_o, F64)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_float32_matches_torch_within_stated_tolerance(kind):
    ref, ours = make_pair(kind, dtype=torch.float32, input_size=5, hidden_size=9, num_layers=2, bidirectional=True)
    x = torch.randn(11, 3, 5)
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours, x)
    assert out_o[0].dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads_o)
    assert_close(out_r, out_o, F32_OUT)
    assert_close(grads_r, grads_o, F32_GRAD)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_float64(kind, bidirectional):
    torch.manual_seed(1)
    module = getattr(ft, kind)(5, 4, num_layers=2, bidirectional=bidirectional, dtype=torch.float64)
    names = [name for name, _ in module.named_parameters()]
    L = 4 if bidirectional else 2
    x = torch.randn(7, 3, 5, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(L, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "LSTM" else 1)]
    params = [p.detach().clone().requires_grad_(True) for p in module.parameters()]

    def f(x, *rest):
        hx = tuple(rest[:len(states)]) if kind == "LSTM" else rest[0]
        out, final = torch.func.functional_call(module, dict(zip(names, rest[len(states):])), (x, hx))
        final = final if isinstance(final, tuple) else (final,)
        return (out, *final)

    assert torch.autograd.gradcheck(f, (x, *states, *params), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequence_unsorted_lengths(kind, bidirectional):
    ref, ours = make_pair(kind, input_size=5, hidden_size=4, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(7, 5, 5, dtype=torch.float64)
    lengths = torch.tensor([3, 7, 1, 5, 3])
    results = []
    for module in (ref, ours):
        xi = x.clone().requires_grad_(True)
        packed = pack_padded_sequence(xi, lengths, enforce_sorted=False)
        out, states = module(packed)
        states = states if isinstance(states, tuple) else (states,)
        loss = (out.data * torch.arange(out.data.numel(), dtype=torch.float64).reshape(out.data.shape).cos()).sum()
        loss = loss + sum((s * s).sum() for s in states)
        loss.backward()
        results.append((out, states, [xi.grad] + [p.grad for p in module.parameters()]))
    (out_r, st_r, g_r), (out_o, st_o, g_o) = results
    assert isinstance(out_o, torch.nn.utils.rnn.PackedSequence)
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(out_r, field), getattr(out_o, field))
    assert_close([out_r.data, *st_r], [out_o.data, *st_o], F64)
    assert_close(g_r, g_o, F64)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_dropout_between_layers_only_in_training(kind, packed, batch_first):
    ref, ours = make_pair(kind, input_size=5, hidden_size=6, num_layers=3, dropout=0.4, batch_first=batch_first)
    x = torch.randn((4, 9, 5) if batch_first else (9, 4, 5), dtype=torch.float64)
    if packed:
        x = pack_padded_sequence(x, torch.tensor([9, 2, 6, 4]), batch_first=batch_first, enforce_sorted=False)
    data = (lambda out: out.data) if packed else (lambda out: out)
    outputs = {}
    for train in (True, False):
        for name, module in (("ref", ref), ("ours", ours)):
            module.train(train)
            torch.manual_seed(7)  # the same seed draws PyTorch's masks
            outputs[name, train] = data(module(x)[0])
    assert torch.allclose(outputs["ref", True], outputs["ours", True], rtol=F64, atol=F64)
    assert torch.allclose(outputs["ref", False], outputs["ours", False], rtol=F64, atol=F64)
    assert not torch.allclose(outputs["ours", True], outputs["ours", False])
    ours.eval()
    assert torch.equal(ours(x)[1][0], ours(x)[1][0])  # no randomness left in eval mode


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_state_dict_round_trip_and_same_initialization(kind):
    torch.manual_seed(3)
    ref = getattr(torch.nn, kind)(5, 4, num_layers=2, bidirectional=True)
    torch.manual_seed(3)
    ours = getattr(ft, kind)(5, 4, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p))
    back = getattr(torch.nn, kind)(5, 4, num_layers=2, bidirectional=True)
    back.load_state_dict(ours.state_dict())
    x = torch.randn(6, 2, 5)
    assert torch.allclose(back(x)[0], ours(x)[0], rtol=F32_OUT, atol=F32_OUT)


def test_loads_a_trained_nn_gru_state_dict_unchanged():
    """An nn.GRU trained a few Adam steps: its state_dict, saved and loaded by torch, gives
    fastrnn.torch.GRU the same outputs and gradients."""
    torch.manual_seed(4)
    trained = torch.nn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    opt = torch.optim.Adam(trained.parameters(), lr=0.05)
    x = torch.randn(4, 9, 5)
    for _ in range(5):
        opt.zero_grad()
        trained(x)[0].square().mean().backward()
        opt.step()
    opt.zero_grad(set_to_none=True)  # the comparison's gradients start from none
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    ours = ft.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    ours.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    ref = trained.double()
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours.double(), x.double())
    assert_close(out_r, out_o, F64)
    assert_close(grads_r, grads_o, F64)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_no_grad_inference_equals_training_path_and_unbatched_input(kind):
    ref, ours = make_pair(kind, input_size=5, hidden_size=4, num_layers=2, batch_first=True)
    x = torch.randn(2, 7, 5, dtype=torch.float64)
    with torch.no_grad():
        fast = ours(x)[0]
    assert fast.grad_fn is None
    assert torch.allclose(fast, ours(x)[0].detach(), rtol=0, atol=0)
    out_r, states_r = ref(x[1])
    out_o, states_o = ours(x[1])
    states_r = states_r if isinstance(states_r, tuple) else (states_r,)
    states_o = states_o if isinstance(states_o, tuple) else (states_o,)
    assert out_o.shape == (7, 4) and states_o[0].shape == (2, 4)
    assert_close([out_r, *states_r], [out_o, *states_o], F64)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_without_bias(kind):
    ref, ours = make_pair(kind, input_size=3, hidden_size=5, bias=False)
    assert [n for n, _ in ours.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    (out_r, grads_r), (out_o, grads_o) = run_both(ref, ours, torch.randn(4, 2, 3, dtype=torch.float64))
    assert_close(out_r + grads_r, out_o + grads_o, F64)


def test_bad_input_raises_clear_errors():
    lstm = ft.LSTM(5, 4, num_layers=2)
    with pytest.raises(ValueError, match="5 features"):
        lstm(torch.randn(7, 3, 6))
    with pytest.raises(ValueError, match=r"h_0 .*\(2, 3, 4\)"):
        lstm(torch.randn(7, 3, 5), (torch.zeros(1, 3, 4), torch.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match="tuple"):
        lstm(torch.randn(7, 3, 5), torch.zeros(2, 3, 4))
    with pytest.raises(TypeError, match="dtype torch.float32, got torch.float64"):
        lstm(torch.randn(7, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="3-D"):
        lstm(torch.randn(2, 7, 3, 5))
    with pytest.raises(ValueError, match="must be on the CPU.*'cuda' backend"):
        lstm(torch.empty(7, 3, 5, device="meta"))
    with pytest.raises(TypeError, match="float32 or float64"):
        ft.LSTM(5, 4).half()(torch.randn(7, 3, 5).half())
    with pytest.raises(ValueError, match="proj_size"):
        ft.LSTM(5, 4, proj_size=2)
    with pytest.raises(ValueError, match="device"):
        ft.LSTM(5, 4, device="cuda")
    with pytest.raises(ValueError, match="nonlinearity"):
        ft.RNN(5, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="must be a tensor h_0"):
        ft.GRU(5, 4)(torch.randn(7, 3, 5), (torch.zeros(1, 3, 4),))
    with pytest.raises(ValueError, match=r"h_0 .*\(1, 3, 4\)"):
        ft.GRU(5, 4)(torch.randn(7, 3, 5), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="device"):
        ft.GRU(5, 4, device="cuda")


def test_in_place_change_between_forward_and_backward_is_an_error():
    lstm = ft.LSTM(3, 4)
    out, _ = lstm(torch.randn(5, 2, 3))
    with torch.no_grad():
        lstm.weight_hh_l0.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_training_loop_converges_like_torch_nn(kind):
    """Adam on a toy task (predict the running mean of the inputs' first feature) from the same
    weights: the two runs' losses stay together step by step and fall."""
    class Model(torch.nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.rnn, self.head = rnn, torch.nn.Linear(16, 1)

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 20, 3, generator=g)
    y = x[..., :1].cumsum(1) / torch.arange(1, 21).reshape(1, 20, 1)
    losses = []
    for rnn_cls in (getattr(torch.nn, kind), getattr(ft, kind)):
        torch.manual_seed(5)
        model = Model(rnn_cls(3, 16, num_layers=2, batch_first=True))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        run = []
        for _ in range(40):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(np.array(run))
    ref, ours = losses
    assert ours[-1] < 0.2 * ours[0]
    # float32 rounding differences carried through 40 Adam steps: 1.3e-7 (LSTM), 2.2e-7 (GRU) measured
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_import_without_torch():
    """`import fastrnn` works without PyTorch; `import fastrnn.torch` says how to install it."""
    script = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("No module named 'torch' (blocked)")
        sys.meta_path.insert(0, Block())
        import fastrnn, fastrnn.convert
        assert "torch" not in sys.modules
        try:
            import fastrnn.torch
        except ImportError as err:
            print("ERR", err)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ERR fastrnn.torch needs PyTorch" in done.stdout and "pip install torch" in done.stdout
