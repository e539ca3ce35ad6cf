"""The sizing sweep runs for real on a tiny configuration; its outputs are checked for shape
and sanity."""
import json

import pytest

from hyperspark import cli

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TINY = ["--parallelism", "1", "2", "--durations", "0", "0.02", "--repeats", "2",
        "--seconds-per-point", "0.3", "--min-trials", "3", "--hyperopt-trials", "1",
        "--scaling-trials", "40", "--tracking", "off", "on"]


def test_tiny_sweep_outputs_are_sane(spark, tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["bench", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((out / "sweep.json").read_text())
    # 2 durations x 2 P x 2 backends x 2 tracking + hyperopt at each P + in-process per duration
    assert len(rows) == 2 * 2 * 2 * 2 + 2 * 2 + 2
    for name in ("sweep.csv", "sweep.md", "sweep.png", "sizing.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    for row in rows:
        assert row["trials_per_s_min"] <= row["trials_per_s_median"] <= row["trials_per_s_max"]
        assert row["peak_rss_mb"] > 0
        if row["duration_s"] > 0 and row["backend"] != "in-process":
            assert 0 < row["efficiency"] <= 1.05, row
        if row["backend"] in ("actors", "jobs"):
            assert row["overhead"]["run"]["p50"] >= row["duration_s"] * 0.9
    for backend in ("actors", "jobs"):
        ideal = [r["ideal_trials_per_s"] for r in sorted(
            (r for r in rows if r["backend"] == backend and r["duration_s"] > 0
             and not r["tracking"]), key=lambda r: r["parallelism"])]
        assert ideal == sorted(ideal) and len(set(ideal)) == len(ideal)  # monotone ideal line
    assert "model check on a point it was not fitted on" in printed and "error" in printed
    # the fit may find no driver cost on so few points; the advice then says so
    assert "beyond P =" in printed or "at every P (no per-trial driver cost" in printed
    assert "Driver scaling: 40 TPE trials" in printed
    sizing = json.loads((out / "sizing.json").read_text())
    assert abs(sizing["advice"]["backends"]["actors"]["check"]["error"]) < 5


def test_ctrl_c_keeps_the_points_finished_so_far(spark, tmp_path, monkeypatch):
    from hyperspark.bench import sweep

    real, calls = sweep.run_point, []

    def interrupted_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_point", interrupted_on_third)
    out = tmp_path / "partial"
    assert sweep.run([*TINY, "--out", str(out)])[0] == 130
    assert len(json.loads((out / "sweep.json").read_text())) == 2


@pytest.mark.parametrize("bad, words", [
    (["--parallelism", "0"], "--parallelism"), (["--durations", "-1"], "--durations"),
    (["--repeats", "0"], "--repeats"), (["--efficiency-threshold", "1.5"], "--efficiency"),
    (["--backends", "threads"], "--backends"),
])
def test_bad_bench_arguments_are_refused_by_name(bad, words, capsys):
    from hyperspark.bench import sweep

    with pytest.raises(SystemExit) as exit_info:
        sweep.run(bad)
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


BENCH_TINY = ["--parallelism", "1", "2", "--durations", "0", "--repeats", "1",
              "--seconds-per-point", "0.3", "--min-trials", "2", "--baselines", "in-process",
              "--scaling-trials", "0"]


def run_bench_elsewhere(tmp_path, master, remote=None):
    """``hyperspark bench`` as a user runs it: the installed command, from a folder that is
    not the checkout (nothing there to import), against ``master`` (or a Spark Connect
    server at ``remote``)."""
    import os
    import shutil
    import subprocess
    import sys

    command = shutil.which("hyperspark", path=os.path.dirname(sys.executable))
    assert command, "the hyperspark command is installed with the package"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                           "MLFLOW_EXPERIMENT_ID")}
    probe = subprocess.run([sys.executable, "-c", "import benchmarks"], cwd=tmp_path, env=env,
                           capture_output=True)
    assert probe.returncode != 0  # the checkout's benchmarks/ folder is out of reach here
    where = ["--remote", remote] if remote else ["--master", master]
    done = subprocess.run([command, "bench", *where, *BENCH_TINY, "--out",
                           str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())
    measured = {(r["backend"], r["parallelism"]) for r in rows if r["trials_per_s_median"] > 0}
    assert {("actors", 1), ("actors", 2), ("jobs", 1), ("jobs", 2)} <= measured
    return rows



@pytest.mark.parametrize("serial_s, words", [
    (0.002, "beyond P = "),  # a driver cost: efficiency falls with P
    (0.0, "efficiency 83% at every P (no per-trial driver cost measured"),  # 1 / (1 + 0.2)
])
def test_sizing_advice_says_where_efficiency_drops_or_that_it_does_not(serial_s, words):
    """Rows made from the model itself (serial driver cost s, slot overhead 0.2 s): the fit
    finds them back, and the advice names the P past which slots stop paying, or says
    efficiency is the same at every P when no driver cost shows."""
    from hyperspark.bench import sizing

    rows = [{"backend": "actors", "tracking": False, "algo": "rand", "parallelism": p,
             "duration_s": d, "trials_per_s_median": sizing.predict_rate((serial_s, 0.2), d, p)}
            for p in (1, 2, 4) for d in (0.0, 1.0)]
    advice = sizing.advise(rows, target_duration=1.0, target_trials=100, threshold=0.5)
    assert words in advice["text"]
    serial, overhead = advice["backends"]["actors"]["serial_s"], advice["backends"]["actors"][
        "overhead_s"]
    assert abs(serial - serial_s) < 1e-9 and abs(overhead - 0.2) < 1e-9
