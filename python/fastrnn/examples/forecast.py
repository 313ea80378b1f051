"""Temperature forecasting (the textbook's Jena climate example): a GRU reads `lookback` rows of
weather sampled every `step` rows and predicts the temperature `delay` rows after the last one,
against the naive baseline "the temperature then is the temperature now". The data is a CSV in
the layout of jena_climate_2009_2016.csv ("Date Time" then numeric columns, one row every 10
minutes) that you give, or a synthetic series in that layout written to a temporary folder.

    python -m fastrnn.examples.forecast                                     # synthetic, small defaults
    python -m fastrnn.examples.forecast --csv jena_climate_2009_2016.csv --lookback 1440 --epochs 20
"""
from __future__ import annotations

import argparse
import array
import csv
import math
import os
import tempfile
import time
from typing import NamedTuple

import numpy as np

from .. import utils
from .._atomic_write import atomic_write
from ..callbacks import LambdaCallback
from ..layers import GRU, Dense
from ..models import Sequential
from ..optimizers import RMSprop
from ..utils import timeseries_dataset_from_array

COLUMNS = ("p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
           "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)", "wd (deg)")
TARGET = "T (degC)"
ROWS_PER_DAY = 144  # one row every 10 minutes
SYNTHETIC_ROWS = 2 * 365 * ROWS_PER_DAY


class Climate(NamedTuple):
    """A weather table: `columns` names the columns of `values` (rows, columns) float32; `start` and
    `end` are the first and last "Date Time" strings."""

    columns: list
    values: np.ndarray
    start: str
    end: str


def read_csv(path, rows=None) -> Climate:
    """Read a Jena-climate-format CSV line by line: a header whose first field is "Date Time" and
    which names a "T (degC)" column, then rows of a date and one number per other column.

    Args:
        path: the CSV file. rows: read at most this many data rows (None: all).

    Returns:
        Climate with the numeric columns as float32.

    Raises:
        ValueError: naming the file and line, for a bad header, a row with the wrong number of
            fields, a field that is not a finite number, text that is not UTF-8, or no data rows.

    Example:
        >>> climate = read_csv("jena_climate_2009_2016.csv", rows=1000)
        >>> climate.values.shape, climate.columns[1]
        ((1000, 14), 'T (degC)')
    """
    values = array.array("d")  # 8 bytes a number while streaming, not a Python float object each
    start = end = None
    count = 0
    with open(path, "rb") as f:
        reader = csv.reader(_lines(f, path))
        try:
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: the file is empty; expected a header line starting with \"Date Time\"")
            if header[0].strip() != "Date Time" or len(header) < 2:
                raise ValueError(f"{path}, line 1: expected a header starting with \"Date Time\" followed by column "
                                 f"names, got {','.join(header)[:80]!r}")
            columns = [name.strip() for name in header[1:]]
            if TARGET not in columns:
                raise ValueError(f"{path}, line 1: no {TARGET!r} column among {columns}")
            for fields in reader:
                if rows is not None and count >= rows:
                    break
                if not fields:  # a blank line
                    continue
                line = reader.line_num
                if len(fields) != len(header):
                    raise ValueError(f"{path}, line {line}: expected {len(header)} comma-separated fields, "
                                     f"got {len(fields)}")
                try:
                    numbers = [float(field) for field in fields[1:]]
                except ValueError:
                    bad = next(i for i, field in enumerate(fields[1:]) if not _is_float(field))
                    raise ValueError(f"{path}, line {line}: column {columns[bad]!r} is not a number: "
                                     f"{fields[bad + 1][:40]!r}") from None
                if not all(map(math.isfinite, numbers)):
                    bad = next(i for i, v in enumerate(numbers) if not math.isfinite(v))
                    raise ValueError(f"{path}, line {line}: column {columns[bad]!r} is not finite: {fields[bad + 1]!r}")
                values.extend(numbers)
                start = start or fields[0]
                end = fields[0]
                count += 1
        except csv.Error as err:
            raise ValueError(f"{path}, line {reader.line_num}: {err}") from None
    if not count:
        raise ValueError(f"{path}: no data rows after the header")
    table = np.frombuffer(values, np.float64).reshape(count, len(columns)).astype(np.float32)
    return Climate(columns, table, start, end)


def _lines(f, path):
    """The file's lines as text, decoded one by one so that bad bytes are reported on their line."""
    for number, raw in enumerate(f, 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}, line {number}: not UTF-8 text ({err.reason})") from None


def _is_float(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _weather(n, rng, tau_days, turn_days=math.inf):
    """A stationary complex AR(1) at 10-minute steps, e-folding in `tau_days` and turning once per
    `turn_days` (passing pressure systems); its real and imaginary parts each have std 1."""
    dt = 1 / ROWS_PER_DAY
    a = np.exp(-dt / tau_days + 2j * math.pi * dt / turn_days)
    sigma = math.sqrt(1 - abs(a) ** 2)  # per part
    noise = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * sigma
    out = np.empty(n, complex)
    z = noise[0] / sigma  # start from the stationary distribution
    for k in range(n):  # a plain loop: a fraction of a second for a year of rows
        z = a * z + noise[k]
        out[k] = z
    return out


def synthetic_series(rows=SYNTHETIC_ROWS, seed=0):
    """A Jena-like series from 01.01.2009 00:10:00, one row every 10 minutes.

    Temperature is a yearly cycle (about 0 degC in January, 19 in July), a daily cycle damped by
    clouds, and weather: pressure systems turning every ~10 days (the temperature anomaly follows
    pressure a quarter turn later; lows bring clouds and wind), a slow anomaly and fast noise. The other columns follow
    from them with the formulas the Jena station's derived columns obey (Magnus vapour pressure,
    potential temperature, density), so they are correlated as the real ones are.

    Args:
        rows: number of rows. seed: the same seed gives the same series.

    Returns:
        (dates, values): a list of "dd.mm.yyyy HH:MM:SS" strings and a (rows, 14) float64 array
        whose columns are COLUMNS.
    """
    rng = np.random.default_rng(seed)
    days = np.arange(1, rows + 1) / ROWS_PER_DAY
    hour = days % 1
    season = -np.cos(2 * math.pi * (days - 20) / 365.25)  # -1 in late January, +1 in late July
    systems = _weather(rows, rng, tau_days=6, turn_days=10)
    storm = systems.imag  # lows (cloudy, windy) turn into cool spells a quarter turn (2.5 days) later
    cloud = 1 / (1 + np.exp(-(1.5 * storm + 0.8 * _weather(rows, rng, tau_days=0.5).real)))
    daily = -np.cos(2 * math.pi * (hour - 0.125))  # coldest at 3:00, warmest at 15:00
    amplitude = (3 + 1.5 * season) * (1.2 - 0.9 * cloud)
    t = (9.5 + 9.5 * season + amplitude * daily + 3.8 * systems.real + 1.5 * _weather(rows, rng, tau_days=20).real
         + 0.3 * _weather(rows, rng, tau_days=0.1).real)
    p = 989 - 7 * storm + 2.5 * _weather(rows, rng, tau_days=15).real + 1.5 * season
    spread = (1 + 9 * (1 - cloud) ** 1.5) * (0.6 + 0.4 * (1 + daily)) * (0.7 + 0.3 * season)  # T - Tdew
    tdew = t - np.maximum(spread + 0.3 * _weather(rows, rng, tau_days=0.2).real, 0.05)
    vp_max, vp_act = _vapour_pressure(t), _vapour_pressure(tdew)
    wind = -1.2 + 1.1 * (1 + 0.5 * np.abs(storm)) * _weather(rows, rng, tau_days=0.5)
    wv = np.abs(wind)
    values = np.column_stack([
        p, t, (t + 273.15) * (1000 / p) ** 0.286, tdew, 100 * vp_act / vp_max, vp_max, vp_act, vp_max - vp_act,
        622 * vp_act / (p - 0.378 * vp_act), 1000 * vp_act / p, 1e5 * p / (287.05 * (t + 273.15)),
        wv, wv * (1.3 + 0.5 * rng.random(rows)) + 0.2, np.degrees(np.angle(wind)) % 360])
    stamps = np.datetime_as_string(np.datetime64("2009-01-01T00:10") + np.arange(rows) * np.timedelta64(10, "m"),
                                   unit="s")
    dates = [f"{s[8:10]}.{s[5:7]}.{s[:4]} {s[11:]}" for s in stamps.tolist()]
    return dates, values


def _vapour_pressure(t):
    """Saturation vapour pressure (mbar) at t degC, Magnus' formula."""
    return 6.1078 * np.exp(17.27 * t / (t + 237.3))


def write_csv(path, dates, values, columns=COLUMNS):
    """Write a table in the Jena file's layout: quoted header, then the date and 2-decimal numbers."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(f'"{name}"' for name in ("Date Time",) + tuple(columns)) + "\n")
        rows = np.empty((len(dates), values.shape[1] + 1), object)
        rows[:, 0], rows[:, 1:] = dates, values
        np.savetxt(f, rows, fmt="%s" + ",%.2f" * values.shape[1])


class Splits(NamedTuple):
    """Row ranges [start, stop) of the training, validation and test parts."""

    train: tuple
    val: tuple
    test: tuple


def split_rows(rows) -> Splits:
    """The first half for training, the next quarter for validation, the last for testing."""
    a, b = rows // 2, rows * 3 // 4
    return Splits((0, a), (a, b), (b, rows))


def normalize(values, train_rows):
    """(values - mean) / std with the training part's mean and std: (normalized float32, mean, std)."""
    mean = values[:train_rows].mean(axis=0, dtype=np.float64)
    std = values[:train_rows].std(axis=0, dtype=np.float64)
    std[std == 0] = 1  # a constant column stays at 0 instead of becoming NaN
    return ((values - mean) / std).astype(np.float32), mean, std


def windows(data, target, part, lookback, step, delay, batch_size, shuffle=False, seed=None):
    """Batches of (inputs, targets) from the rows `part` = (start, stop): each window holds
    lookback // step rows taken `step` apart, and its target is `target` `delay` rows after the
    window's last row; windows and targets both stay inside the part.

    Raises:
        ValueError: the part is too short for one window and its target.
    """
    length = lookback // step
    reach = (length - 1) * step + delay  # from a window's first row to its target's
    start, stop = part
    if stop - start <= reach:
        raise ValueError(f"forecast: rows {start}-{stop} are too few for one window of lookback {lookback} "
                         f"(step {step}) and its target {delay} rows later; use more rows or a shorter lookback")
    return timeseries_dataset_from_array(data, target[reach:], sequence_length=length, sampling_rate=step,
                                         batch_size=batch_size, shuffle=shuffle, seed=seed, start_index=start,
                                         end_index=stop - delay)


def baseline_mae(dataset, target_column):
    """MAE of predicting each target by the window's last value of `target_column` (in the data's units)."""
    total, count = 0.0, 0
    for inputs, targets in dataset:
        total += float(np.abs(inputs[:, -1, target_column] - targets).sum(dtype=np.float64))
        count += len(targets)
    return total / count


def build_model(features, units=32):
    """GRU(units) -> Dense(1), compiled with RMSprop and the mean absolute error (the textbook's)."""
    model = Sequential([GRU(units, input_shape=(None, features)), Dense(1)])
    model.compile(optimizer=RMSprop(), loss="mae")
    return model


def evaluate_mae(model, dataset):
    """The model's MAE over every window of `dataset`."""
    total, count = 0.0, 0
    for inputs, targets in dataset:
        total += float(np.abs(model.predict(inputs, batch_size=len(inputs))[:, 0] - targets).sum(dtype=np.float64))
        count += len(targets)
    return total / count


class Result(NamedTuple):
    """Per-epoch training and validation MAE, the baselines and the final test MAE, all in degC."""

    train_mae: list
    val_mae: list
    baseline_val: float
    baseline_test: float
    test_mae: float


def run(csv_path=None, epochs=3, lookback=720, step=6, delay=144, batch_size=128, rows=None, seed=0, plot=None,
        out=print) -> Result:
    """Load (or generate) the data, print the baseline, train and print the MAE per epoch.

    Args:
        csv_path: a Jena-format CSV (None: a synthetic series of `rows` or SYNTHETIC_ROWS rows).
        epochs: passes over the training windows. lookback, step, delay: rows (10 minutes each)
            seen, between samples, and from the last sample to the target.
        batch_size: windows per step. rows: use the first `rows` rows (None: all).
        seed: synthetic data, weights and shuffling. plot: save the curves there (None: no plot).

    Returns:
        Result (degC).
    """
    utils.set_random_seed(seed)
    for name, value in (("epochs", epochs), ("lookback", lookback), ("step", step), ("delay", delay),
                        ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"forecast: argument {name!r} must be an int >= 1, got {value!r}")
    if lookback < step:
        raise ValueError(f"forecast: lookback ({lookback}) must be at least one step ({step})")
    if csv_path is None:
        with tempfile.TemporaryDirectory() as folder:
            csv_path = os.path.join(folder, "jena_climate_synthetic.csv")
            write_csv(csv_path, *synthetic_series(rows or SYNTHETIC_ROWS, seed))
            climate = read_csv(csv_path, rows)
        source = f"synthetic Jena-format series (seed {seed})"
    else:
        climate = read_csv(csv_path, rows)
        source = csv_path
    n = len(climate.values)
    out(f"{source}: {n} rows x {len(climate.columns)} columns, {climate.start} to {climate.end}")
    parts = split_rows(n)
    data, mean, std = normalize(climate.values, parts.train[1])
    column = climate.columns.index(TARGET)
    t_std = float(std[column])
    train, val, test = (windows(data, data[:, column], part, lookback, step, delay, batch_size, shuffle=shuffle,
                                seed=seed) for part, shuffle in zip(parts, (True, False, False)))
    baseline_val, baseline_test = baseline_mae(val, column) * t_std, baseline_mae(test, column) * t_std
    out(f"windows of {lookback // step} rows {step} apart predicting {TARGET} {delay} rows after the last; "
        f"{len(train)} training batches of {batch_size}")
    out(f"naive baseline (the temperature then = now): validation MAE {baseline_val:.2f} degC, "
        f"test MAE {baseline_test:.2f} degC")
    model = build_model(data.shape[1])
    train_mae, val_mae = [], []

    def report(epoch, logs):  # the losses are MAEs of the normalised temperature
        train_mae.append(logs["loss"] * t_std)
        val_mae.append(logs["val_loss"] * t_std)
        out(f"epoch {epoch + 1}/{epochs}: training MAE {train_mae[-1]:.2f} degC, validation MAE {val_mae[-1]:.2f} "
            f"degC (baseline {baseline_val:.2f}) ({time.perf_counter() - began[0]:.1f} s)")

    began = [0.0]
    clock = LambdaCallback(on_epoch_begin=lambda epoch, logs: began.__setitem__(0, time.perf_counter()),
                           on_epoch_end=report)
    # one batch of windows at a time (all at once would take gigabytes), as the textbook's generators
    model.fit(train, epochs=epochs, validation_data=val, verbose=0, callbacks=[clock])
    test_mae = evaluate_mae(model, test) * t_std
    out(f"test MAE {test_mae:.2f} degC (baseline {baseline_test:.2f}): the GRU is "
        f"{'better' if test_mae < baseline_test else 'not better'} than the baseline")
    if plot:
        save_plot(train_mae, val_mae, baseline_val, plot, out)
    return Result(train_mae, val_mae, baseline_val, baseline_test, test_mae)


def save_plot(train_mae, val_mae, baseline, path, out=print):
    """Save the training and validation MAE per epoch with the baseline, or say why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out("matplotlib is not installed (pip install 'fastrnn[examples]'): skipped the plot")
        return
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = range(1, len(train_mae) + 1)
    ax.plot(epochs, train_mae, "o-", label="training")
    ax.plot(epochs, val_mae, "s-", label="validation")
    ax.axhline(baseline, color="gray", linestyle=":", label="baseline (validation)")
    ax.set(xlabel="epoch", ylabel="MAE (degC)", title="GRU(32) temperature forecast")
    ax.legend()
    fig.tight_layout()
    with atomic_write(path) as f:  # the format from the name's extension, as savefig(path) would
        fig.savefig(f, format=os.path.splitext(path)[1][1:] or None, dpi=100)
    plt.close(fig)
    out(f"saved the MAE curves to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", help="a jena_climate_2009_2016.csv-format file (default: synthetic data)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lookback", type=int, default=720, help="rows seen per window (10 minutes each)")
    parser.add_argument("--step", type=int, default=6, help="rows between the samples of a window")
    parser.add_argument("--delay", type=int, default=144, help="rows from a window's last sample to its target")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rows", type=int, default=None,
                        help=f"use the first ROWS rows (default: all; synthetic: {SYNTHETIC_ROWS}, two years)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="save the MAE curves to this image file (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.rows is not None and args.rows < 1:
        parser.error("--rows must be at least 1")
    try:
        run(args.csv, args.epochs, args.lookback, args.step, args.delay, args.batch_size, args.rows, args.seed,
            args.plot)
    except (OSError, ValueError) as err:
        raise SystemExit(f"forecast: {err}") from None


if __name__ == "__main__":
    main()
