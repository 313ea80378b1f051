"""fastrnn.examples.forecast: the Jena-format CSV reader (fixture files written here), the
synthetic series, the windows and the naive baseline checked against direct NumPy indexing, and a
tiny run of the example."""
import math

import numpy as np
import pytest

from fastrnn.examples import forecast

JENA_HEADER = ('"Date Time","p (mbar)","T (degC)","Tpot (K)","Tdew (degC)","rh (%)","VPmax (mbar)",'
               '"VPact (mbar)","VPdef (mbar)","sh (g/kg)","H2OC (mmol/mol)","rho (g/m**3)","wv (m/s)",'
               '"max. wv (m/s)","wd (deg)"')
# the first rows of jena_climate_2009_2016.csv
JENA_ROWS = ["01.01.2009 00:10:00,996.52,-8.02,265.40,-8.90,93.30,3.33,3.11,0.22,1.94,3.12,1307.75,1.03,1.75,152.30",
             "01.01.2009 00:20:00,996.57,-8.41,265.01,-9.28,93.40,3.23,3.02,0.21,1.89,3.03,1309.80,0.72,1.50,136.10",
             "01.01.2009 00:30:00,996.53,-8.51,264.91,-9.31,93.90,3.21,3.01,0.20,1.88,3.02,1310.24,0.19,0.63,171.60"]


def write(tmp_path, lines, name="jena.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_reads_the_jena_layout(tmp_path):
    path = write(tmp_path, [JENA_HEADER] + JENA_ROWS)
    climate = forecast.read_csv(path)
    assert climate.columns == list(forecast.COLUMNS)
    assert climate.values.dtype == np.float32 and climate.values.shape == (3, 14)
    np.testing.assert_array_equal(climate.values[:, 1], np.float32([-8.02, -8.41, -8.51]))
    np.testing.assert_array_equal(climate.values[2], np.float32(JENA_ROWS[2].split(",")[1:]))
    assert (climate.start, climate.end) == ("01.01.2009 00:10:00", "01.01.2009 00:30:00")
    limited = forecast.read_csv(path, rows=2)
    assert limited.values.shape == (2, 14) and limited.end == "01.01.2009 00:20:00"


def test_reader_takes_crlf_a_bom_blank_lines_and_other_columns(tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(b'\xef\xbb\xbf"Date Time","T (degC)","x"\r\n2009-01-01,1.5,2\r\n\r\n2009-01-02,-3,4e1\r\n')
    climate = forecast.read_csv(str(path))
    assert climate.columns == ["T (degC)", "x"]
    np.testing.assert_array_equal(climate.values, np.float32([[1.5, 2], [-3, 40]]))


@pytest.mark.parametrize("lines, message", [
    ([JENA_HEADER, JENA_ROWS[0], "01.01.2009 00:20:00,996.57,-8.41"], r"line 3: expected 15 .* got 3"),
    ([JENA_HEADER, JENA_ROWS[0], JENA_ROWS[1], JENA_ROWS[2].replace("-8.51", "cold")],
     r"line 4: column 'T \(degC\)' is not a number: 'cold'"),
    ([JENA_HEADER, JENA_ROWS[0].replace("1307.75", "nan")], r"line 2: column 'rho \(g/m\*\*3\)' is not finite"),
    (['"Time","T (degC)"', "1,2"], r"line 1: expected a header starting with \"Date Time\""),
    (['"Date Time","p (mbar)"', "1,2"], r"line 1: no 'T \(degC\)' column"),
    ([JENA_HEADER], "no data rows"),
])
def test_bad_content_names_the_file_and_line(tmp_path, lines, message):
    path = write(tmp_path, lines)
    with pytest.raises(ValueError, match=message) as info:
        forecast.read_csv(path)
    assert str(info.value).startswith(path)


def test_empty_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        forecast.read_csv(str(empty))
    latin = tmp_path / "latin.csv"
    latin.write_bytes((JENA_HEADER + "\n" + JENA_ROWS[0] + "\n").encode() + b"01.01.2009 00:20:00,\xb0C\n")
    with pytest.raises(ValueError, match="line 3: not UTF-8"):
        forecast.read_csv(str(latin))


def test_synthetic_series_has_the_jena_columns_and_physics(tmp_path):
    dates, values = forecast.synthetic_series(3 * forecast.ROWS_PER_DAY, seed=3)
    path = str(tmp_path / "synthetic.csv")
    forecast.write_csv(path, dates, values)
    with open(path) as f:
        assert f.readline().rstrip("\n") == JENA_HEADER
        first = f.readline().split(",")
    assert first[0] == "01.01.2009 00:10:00" and len(first) == 15
    climate = forecast.read_csv(path)
    assert climate.columns == list(forecast.COLUMNS) and climate.values.shape == (432, 14)
    assert climate.end == "04.01.2009 00:00:00"  # 432 rows of 10 minutes
    np.testing.assert_allclose(climate.values, values, atol=0.0051)  # written with 2 decimals
    col = {name: values[:, i] for i, name in enumerate(forecast.COLUMNS)}
    assert np.all(col["Tdew (degC)"] < col["T (degC)"]) and np.all((col["rh (%)"] > 0) & (col["rh (%)"] <= 100))
    np.testing.assert_allclose(col["VPdef (mbar)"], col["VPmax (mbar)"] - col["VPact (mbar)"])
    assert np.all(col["max. wv (m/s)"] >= col["wv (m/s)"]) and np.all((col["wd (deg)"] >= 0) & (col["wd (deg)"] < 360))
    again = forecast.synthetic_series(3 * forecast.ROWS_PER_DAY, seed=3)
    assert again[0] == dates and np.array_equal(again[1], values)
    assert not np.array_equal(forecast.synthetic_series(3 * forecast.ROWS_PER_DAY, seed=4)[1], values)


def test_synthetic_temperature_has_daily_and_yearly_cycles():
    _, values = forecast.synthetic_series(365 * forecast.ROWS_PER_DAY, seed=0)
    t = values[:, 1]
    by_hour = t.reshape(365, 24, 6).mean(axis=(0, 2))
    assert by_hour.argmin() in (2, 3, 4, 5) and by_hour.argmax() in (13, 14, 15, 16)
    by_month = t[:360 * forecast.ROWS_PER_DAY].reshape(12, -1).mean(axis=1)
    assert by_month[0] < 5 < 15 < by_month[6]
    assert 5 < t.std() < 12  # the Jena file's T has std 8.4


def test_windows_and_baseline_match_direct_indexing():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal((500, 3)), axis=0).astype(np.float32)
    lookback, step, delay, part = 40, 4, 7, (100, 300)
    data = values * 2 + 1  # a linear rescaling: MAE scales by 2
    ds = forecast.windows(data, data[:, 1], part, lookback, step, delay, batch_size=16)
    inputs = np.concatenate([b[0] for b in ds])
    targets = np.concatenate([b[1] for b in ds])
    length = lookback // step
    starts = np.arange(part[0], part[1] - (length - 1) * step - delay)
    assert len(inputs) == len(starts)
    rows = starts[:, None] + step * np.arange(length)
    np.testing.assert_array_equal(inputs, data[rows])
    np.testing.assert_array_equal(targets, data[rows[:, -1] + delay, 1])
    assert rows[-1, -1] + delay == part[1] - 1  # the last target is the part's last row
    direct = np.mean(np.abs(values[rows[:, -1] + delay, 1] - values[rows[:, -1], 1]), dtype=np.float64)
    assert forecast.baseline_mae(ds, 1) / 2 == pytest.approx(direct, rel=1e-5)
    with pytest.raises(ValueError, match="too few"):
        forecast.windows(data, data[:, 1], (0, 43), lookback, step, delay, batch_size=16)


def test_normalize_uses_the_training_part_only():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]])
    data, mean, std = forecast.normalize(values, 2)
    np.testing.assert_allclose(mean, [2, 5])
    np.testing.assert_allclose(std, [1, 1])  # a constant column gets std 1
    np.testing.assert_allclose(data, [[-1, 0], [1, 0], [98, 2]])
    assert forecast.split_rows(100) == ((0, 50), (50, 75), (75, 100))


def test_tiny_run_reports_against_the_baseline(tmp_path):
    lines = []
    plot = tmp_path / "mae.png"
    result = forecast.run(epochs=1, lookback=96, step=6, delay=36, batch_size=64, rows=3000, seed=1, plot=str(plot),
                          out=lines.append)
    assert len(result.train_mae) == len(result.val_mae) == 1
    assert all(math.isfinite(v) and v > 0 for v in (*result.train_mae, *result.val_mae, result.test_mae))
    assert "3000 rows x 14 columns" in lines[0]
    assert f"validation MAE {result.baseline_val:.2f} degC" in lines[2]
    assert lines[3].startswith("epoch 1/1: training MAE") and f"(baseline {result.baseline_val:.2f})" in lines[3]
    verdict = "better" if result.test_mae < result.baseline_test else "not better"
    assert lines[-2].startswith(f"test MAE {result.test_mae:.2f}")
    assert lines[-2].endswith(f"{verdict} than the baseline")
    try:
        import matplotlib  # noqa: F401
        assert plot.exists() and lines[-1] == f"saved the MAE curves to {plot}"
    except ImportError:
        assert not plot.exists() and "skipped the plot" in lines[-1]
    # the synthetic run reads its series back from a CSV too: the user's copy of it gives the same baseline
    path = str(tmp_path / "same.csv")
    forecast.write_csv(path, *forecast.synthetic_series(3000, seed=1))
    again = forecast.run(path, epochs=1, lookback=96, step=6, delay=36, batch_size=64, seed=1, out=lambda *a: None)
    assert again.baseline_val == pytest.approx(result.baseline_val, rel=1e-6)


def test_cli_on_a_bad_file_says_where(tmp_path):
    path = write(tmp_path, [JENA_HEADER, JENA_ROWS[0], "01.01.2009 00:20:00,1,2"])
    with pytest.raises(SystemExit, match=r"forecast: .*jena.csv, line 3"):
        forecast.main(["--csv", path])
    with pytest.raises(SystemExit, match="too few"):
        forecast.main(["--csv", write(tmp_path, [JENA_HEADER] + JENA_ROWS, "short.csv"), "--epochs", "1"])
