"""icl.sweep: the same table serially, on a LocalCluster of two workers and on a scheduler with
two workers started as separate processes (as a real cluster would be); a worker killed in the
middle; an interrupted sweep resumed; malformed SPECs refused with the field named."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from icl import sweep

SPEC = """
quantity = "vote_accuracy"
samples = 3000
chunk = 1000
seed = 7

[grid]
n = 8
d = 4
sigma2 = 0.25
eta = 1.0
temperature = [0.5, 2.0]
n_votes = [1, 5]
"""
NUMBERS = ["point", "estimate", "se", "samples", "theory"]


def table(path: Path) -> list[dict]:
    return [{k: r[k] for k in NUMBERS} for r in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("serial") / "serial.parquet"
    sweep.run_sweep(sweep.parse_spec(SPEC), out, workers=0)
    return table(out)


def test_serial_table_has_every_point_and_agrees_with_the_theory(serial):
    assert [r["point"] for r in serial] == [0, 1, 2, 3]
    assert all(r["samples"] == 3000 for r in serial)
    assert all(abs(r["estimate"] - r["theory"]) < 5 * r["se"] for r in serial)


def test_a_local_cluster_of_two_gives_the_same_table(serial, tmp_path):
    sweep.run_sweep(sweep.parse_spec(SPEC), tmp_path / "two.parquet", workers=2)
    assert table(tmp_path / "two.parquet") == serial


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_and_two_worker_processes_give_the_same_table(serial, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(sweep.__file__).parents[1])}
    cli = [sys.executable, "-m"]
    procs = [
        subprocess.Popen(
            [*cli, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        time.sleep(3)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [*cli, "distributed.cli.dask_worker", address, "--nthreads", "1",
                     "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        time.sleep(4)
        sweep.run_sweep(sweep.parse_spec(SPEC), tmp_path / "cluster.parquet", scheduler=address)
        assert table(tmp_path / "cluster.parquet") == serial
    finally:
        for p in procs:
            p.kill()


def test_a_worker_killed_mid_sweep_costs_only_its_chunks(tmp_path):
    from distributed import Client, LocalCluster

    spec = sweep.parse_spec(
        SPEC.replace("chunk = 1000", "chunk = 100").replace("[1, 5]", "[1, 3, 5, 7]")
    )
    out = tmp_path / "killed.parquet"
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())

            def kill_after_the_first_point():
                while not out.exists():
                    time.sleep(0.01)
                os.kill(pids[0], 9)
                killed.append(pids[0])

            threading.Thread(target=kill_after_the_first_point, daemon=True).start()
            rows = sweep.run_sweep(spec, out, scheduler=cluster.scheduler_address)
    assert killed and len(rows) == len(spec.points)
    undisturbed = tmp_path / "undisturbed.parquet"
    sweep.run_sweep(spec, undisturbed, workers=0)
    assert table(out) == table(undisturbed)


def test_an_interrupted_sweep_resumes_to_the_same_table(serial, tmp_path):
    out = tmp_path / "resumed.parquet"
    sweep.run_sweep(sweep.parse_spec(SPEC), out, workers=0)
    rows = pq.read_table(out).to_pylist()
    sweep._write(rows[:2], out)  # as if stopped after two points
    again = sweep.run_sweep(sweep.parse_spec(SPEC), out, workers=0)
    assert [r["point"] for r in again] == [0, 1, 2, 3]
    assert table(out) == serial


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("vote_accuracy", "no_such_quantity"), "quantity"),
        (("n_votes = [1, 5]", "n_votes = [1, 5]\nwidth = 3"), "unknown parameters"),
        (("n_votes = [1, 5]", "n_votes = []"), "grid.n_votes"),
        (("sigma2 = 0.25", "sigma2 = -1.0"), "grid.sigma2"),
        (("samples = 3000", "samples = 0"), "samples"),
        (("d = 4\n", ""), "missing"),
    ],
)
def test_a_malformed_spec_is_refused_with_the_field_named(change, field):
    with pytest.raises(ValueError, match=field):
        sweep.parse_spec(SPEC.replace(*change))


def test_yaml_and_toml_specs_agree():
    yaml_spec = sweep.parse_spec(
        "quantity: vote_accuracy\nsamples: 3000\nchunk: 1000\nseed: 7\ngrid: {n: 8, d: 4, "
        "sigma2: 0.25, eta: 1.0, temperature: [0.5, 2.0], n_votes: [1, 5]}\n",
        ".yaml",
    )
    assert yaml_spec == sweep.parse_spec(SPEC)


def test_the_command_line_runs_the_worked_example(tmp_path):
    example = Path(sweep.__file__).parents[1] / "sweeps" / "vote_map.toml"
    text = example.read_text().replace("samples = 40000", "samples = 2000")
    spec = tmp_path / "small.toml"
    spec.write_text(text)
    out = tmp_path / "map.parquet"
    sweep.main([str(spec), "--out", str(out), "--workers", "0"])
    assert len(pq.read_table(out)) == 30


def test_a_table_of_another_spec_is_not_resumed(tmp_path):
    out = tmp_path / "t.parquet"
    sweep.run_sweep(sweep.parse_spec(SPEC), out, workers=0)
    with pytest.raises(ValueError, match="another SPEC"):
        sweep.run_sweep(sweep.parse_spec(SPEC.replace("seed = 7", "seed = 8")), out, workers=0)


def test_python_dash_m_runs_on_a_local_cluster(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": str(Path(sweep.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "icl.sweep", str(spec), "--out", str(tmp_path / "o.parquet")],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "4 points of vote_accuracy" in done.stdout and "chunks" in done.stderr
