r"""Sweeps of the book's quantities over grids of settings, on Dask.

A sweep takes a SPEC (TOML or YAML) that names a registered quantity, a grid of its parameters,
the number of Monte Carlo draws per point and a seed::

    quantity = "vote_accuracy"
    samples = 20000
    chunk = 5000
    seed = 0

    [grid]
    n = [10, 20]
    d = 10
    sigma2 = 0.25
    eta = 1.0
    temperature = {start = 0.25, stop = 4.0, num = 5, log = true}
    n_votes = [1, 5, 25]

and runs every point's Monte Carlo on a Dask cluster: an embedded
``distributed.LocalCluster`` (one process per worker, one thread each) by default, or any running
cluster (``--scheduler tcp://...``)::

    python -m icl.sweep SPEC --out RESULTS.parquet [--scheduler ADDRESS] [--workers K]

**Numbers independent of where they ran.** Point ``i`` is split into fixed chunks; chunk ``j``
draws from a generator seeded by ``numpy.random.SeedSequence(seed, spawn_key=(i, j))``, and the
chunks' (count, mean, M2) are merged in chunk order (Chan, Golub and LeVeque's update), so one
worker, two, or a cluster give bit-identical estimates and standard errors.

**Nothing lost.** Each finished point is written at once (the whole table, replaced atomically);
a rerun with the same SPEC and ``--out`` skips the points already there; a worker that dies
costs only its chunks, which Dask runs again (``retries``). A malformed SPEC is refused before
anything runs, with a message that names the field.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from icl import __version__, runtime, tasks, techniques, theory
from icl.domain import Choice, Integer, Parameter, Real
from icl.experiments import ch04, ch05, ch08

Sampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Quantity:
    """A quantity of the book that a sweep can map.

    Attributes
    ----------
    name : str
        Its name in a SPEC.
    description : str
        What it is, and which chapter.
    parameters : dict
        Each parameter's domain (an :class:`icl.domain.Parameter`).
    sampler : callable
        ``sampler(**point)`` returns ``(batch, generator) -> tensor (batch,)``: draws whose mean
        estimates the quantity.
    theory : callable or None
        ``theory(**point)``: the closed form where the book has one.
    """

    name: str
    description: str
    parameters: dict[str, Parameter]
    sampler: Callable[..., Sampler]
    theory: Callable[..., float] | None = None


REGISTRY: dict[str, Quantity] = {}


def register(quantity: Quantity) -> Quantity:
    """Add ``quantity`` to :data:`REGISTRY` (its name must be new).

    Parameters
    ----------
    quantity : Quantity
        The quantity.

    Returns
    -------
    Quantity
        The same quantity.

    Raises
    ------
    ValueError
        A name already registered.
    """
    if quantity.name in REGISTRY:
        raise ValueError(f"quantity {quantity.name!r} is registered already")
    REGISTRY[quantity.name] = quantity
    return quantity


_CHAINS = dict(
    n=Integer(1, 256),
    d=Integer(1, 64),
    sigma2=Real(0.0, 1e6),
    eta=Real(1e-6, 10.0),
    level=Real(1e-3, 10.0),
)


def _chain_risk_sampler(n, d, sigma2, eta, level, n_chains, steps) -> Sampler:
    setting = ch08.ChainSetting(n=n, d=d, sigma2=sigma2, eta=eta, level=level)
    return ch08.exact_risk_sampler(setting, n_chains, steps)


def _chain_risk_theory(n, d, sigma2, eta, level, n_chains, steps) -> float:
    terms = theory.prompt_averaged_chain_terms(n, d, sigma2, eta, level, steps)
    return float(terms.bias2[steps] + terms.trace[steps] / n_chains)


register(
    Quantity(
        "averaged_chain_risk",
        "Chapters 3 and 8: the prompt-averaged risk of the average of n_chains multiplicative-"
        "noise chains of steps steps (the exact risk given each prompt, averaged over prompts)",
        {**_CHAINS, "n_chains": Integer(1, 10**6), "steps": Integer(1, 10**4)},
        _chain_risk_sampler,
        _chain_risk_theory,
    )
)


def _split_sampler(n, d, sigma2, eta, level, budget) -> Sampler:
    split = theory.compute_optimal_split(n, d, sigma2, eta, level, budget)
    return _chain_risk_sampler(n, d, sigma2, eta, level, split.n_chains, split.steps)


def _split_theory(n, d, sigma2, eta, level, budget) -> float:
    return float(theory.compute_optimal_split(n, d, sigma2, eta, level, budget).risk)


register(
    Quantity(
        "budget_split_risk",
        "Chapter 8: the prompt-averaged risk at the compute-optimal split (N*, T*) of a budget",
        {**_CHAINS, "budget": Integer(1, 10**6)},
        _split_sampler,
        _split_theory,
    )
)


def _vote_sampler(n, d, sigma2, eta, temperature, n_votes) -> Sampler:
    setting = ch05.Setting(n=n, d=d, sigma2=sigma2, eta=eta)

    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        u = ch05.margins(setting, batch, gen)
        right = ch05.vote_right(ch05.p_right(u, temperature, setting), n_votes, gen)
        return right.to(runtime.dtype()).mean(1)

    return sample


def _vote_theory(n, d, sigma2, eta, temperature, n_votes) -> float:
    return float(theory.vote_sign_accuracy(n, d, sigma2, eta, temperature, n_votes))


register(
    Quantity(
        "vote_accuracy",
        "Chapter 5: the accuracy of a per-coefficient majority vote of n_votes tokens sampled at "
        "a temperature",
        dict(
            n=Integer(1, 10**4),
            d=Integer(1, 10**3),
            sigma2=Real(0.0, 1e6),
            eta=Real(1e-6, 1e6),
            temperature=Real(1e-6, 1e6),
            n_votes=Integer(1, 10**4),
        ),
        _vote_sampler,
        _vote_theory,
    )
)


def _best_of_n_sampler(n, sigma2, eta, tau, n_samples, reward) -> Sampler:
    def sample(batch: int, gen: torch.Generator) -> torch.Tensor:
        p = tasks.sample_prompts(
            batch, n, 1, sigma2=sigma2, generator=gen, device=gen.device, dtype=runtime.dtype()
        )
        cand = ch04.candidates(p, eta, n_samples, tau, gen)
        chosen = techniques.best_of_n(cand, ch04.scores(reward, cand, p)).selected
        return ((chosen - p.w) ** 2).sum(1)

    return sample


def _best_of_n_theory(n, sigma2, eta, tau, n_samples, reward) -> float:
    return float(
        theory.best_of_n_risk_1d_averaged(
            n_samples, tau, n=n, sigma2=sigma2, eta=eta, reward=reward
        )
    )


register(
    Quantity(
        "best_of_n_risk",
        "Chapter 4: the prompt-averaged risk of the best of n_samples candidates m + tau xi by "
        "a reward (oracle, in-context loss or norm), in d = 1",
        dict(
            n=Integer(1, 10**4),
            sigma2=Real(0.0, 1e6),
            eta=Real(1e-6, 1e3),
            tau=Real(1e-6, 1e3),
            n_samples=Integer(1, 10**4),
            reward=Choice(("oracle", "in-context loss", "norm")),
        ),
        _best_of_n_sampler,
        _best_of_n_theory,
    )
)


# --------------------------------------------------------------------------------------------
# The SPEC
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A validated SPEC.

    Attributes
    ----------
    quantity : Quantity
        What is mapped.
    points : list of dict
        Every point of the grid, in the grid's order (the last parameter varies fastest).
    samples, chunk, seed : int
        Draws per point, draws per chunk, and the seed.
    """

    quantity: Quantity
    points: list[dict]
    samples: int
    chunk: int
    seed: int

    @property
    def chunks(self) -> int:
        """Chunks per point."""
        return math.ceil(self.samples / self.chunk)

    @property
    def digest(self) -> str:
        """A fingerprint of the SPEC (quantity, points, samples, chunk, seed): the table's rows
        carry it, so that a rerun resumes only its own SPEC's table."""
        text = repr((self.quantity.name, self.points, self.samples, self.chunk, self.seed))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _values(name: str, value) -> list:
    """A grid axis: a scalar, a list, or {start, stop, num[, log]}."""
    if isinstance(value, dict):
        unknown = set(value) - {"start", "stop", "num", "log"}
        if unknown or not {"start", "stop", "num"} <= set(value):
            raise ValueError(
                f"grid.{name}: a range needs start, stop and num (and optionally log), "
                f"got {sorted(value)}"
            )
        if not isinstance(value["num"], int) or value["num"] < 1:
            raise ValueError(f"grid.{name}.num must be an integer >= 1, got {value['num']!r}")
        space = np.geomspace if value.get("log", False) else np.linspace
        return [float(v) for v in space(value["start"], value["stop"], value["num"])]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"grid.{name} is empty")
    return values


def parse_spec(text: str, suffix: str = ".toml") -> Spec:
    """Read and validate a SPEC (TOML, or YAML for ``.yaml``/``.yml``).

    Parameters
    ----------
    text : str
        The SPEC's text.
    suffix : str
        Its file's suffix, which selects the format.

    Returns
    -------
    Spec
        The validated SPEC.

    Raises
    ------
    ValueError
        An unknown quantity or parameter, a missing one, an empty grid axis, or a value outside
        its domain; the message names the field.
    """
    raw = yaml.safe_load(text) if suffix in (".yaml", ".yml") else tomllib.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("the SPEC must be a table of fields")
    unknown = set(raw) - {"quantity", "grid", "samples", "chunk", "seed"}
    if unknown:
        raise ValueError(f"unknown SPEC fields: {sorted(unknown)}")
    name = raw.get("quantity")
    if name not in REGISTRY:
        raise ValueError(f"quantity: {name!r} is not registered (known: {sorted(REGISTRY)})")
    quantity = REGISTRY[name]
    grid = raw.get("grid")
    if not isinstance(grid, dict):
        raise ValueError("grid: a table of the quantity's parameters is required")
    extra, missing = set(grid) - set(quantity.parameters), set(quantity.parameters) - set(grid)
    if extra:
        raise ValueError(f"grid: unknown parameters of {name}: {sorted(extra)}")
    if missing:
        raise ValueError(f"grid: parameters of {name} missing: {sorted(missing)}")
    axes = {}
    for key, domain in quantity.parameters.items():
        axes[key] = []
        for value in _values(key, grid[key]):
            try:
                axes[key].append(domain.validate(key, value))
            except (TypeError, ValueError) as problem:
                raise ValueError(f"grid.{key}: {problem}") from None
    points = [dict(zip(axes, combo, strict=True)) for combo in _product(list(axes.values()))]
    counts = {}
    for key, default in (("samples", None), ("chunk", 10_000), ("seed", None)):
        value = raw.get(key, default)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < (0 if key == "seed" else 1)
        ):
            raise ValueError(
                f"{key}: an integer >= {0 if key == 'seed' else 1} is required, got {value!r}"
            )
        counts[key] = value
    return Spec(quantity, points, counts["samples"], counts["chunk"], counts["seed"])


def _product(axes: list[list]) -> list[tuple]:
    if not axes:
        return [()]
    return [(head, *tail) for head in axes[0] for tail in _product(axes[1:])]


# --------------------------------------------------------------------------------------------
# The work
# --------------------------------------------------------------------------------------------


def chunk_moments(spec: Spec, point: int, chunk: int) -> tuple[int, float, float, str, float]:
    """(count, mean, M2) of chunk ``chunk`` of point ``point``, the device that drew it and the
    seconds it took: its
    draws come from a generator on the run's device (:func:`icl.runtime.device`) seeded by
    ``SeedSequence(spec.seed, spawn_key=(point, chunk))`` (bit-identical wherever it runs on the
    same kind of device and dtype).

    Parameters
    ----------
    spec : Spec
        The sweep.
    point : int
        The point's index in ``spec.points``.
    chunk : int
        The chunk's index within the point.

    Returns
    -------
    tuple of (int, float, float, str, float)
        The count of draws, their mean, their sum of squared deviations, the device and the
        seconds.
    """
    start = time.perf_counter()
    size = min(spec.chunk, spec.samples - chunk * spec.chunk)
    seed = np.random.SeedSequence(spec.seed, spawn_key=(point, chunk)).generate_state(2)
    device = runtime.device()
    gen = torch.Generator(device=device).manual_seed(int(seed[0]) << 31 | int(seed[1]) >> 1)
    values = spec.quantity.sampler(**spec.points[point])(size, gen).double().cpu().numpy()
    mean = float(values.mean())
    m2 = float(((values - mean) ** 2).sum())
    return size, mean, m2, device.type, time.perf_counter() - start


def merge(parts: list[tuple[int, float, float]]) -> tuple[int, float, float]:
    """Merge (count, mean, M2) triples in the given order (Chan, Golub and LeVeque).

    Parameters
    ----------
    parts : list of tuple
        The chunks' triples, in chunk order.

    Returns
    -------
    tuple of (int, float, float)
        The merged triple.
    """
    n, mean, m2 = parts[0]
    for k, mean_k, m2_k in parts[1:]:
        total = n + k
        delta = mean_k - mean
        mean = mean + delta * k / total
        m2 = m2 + m2_k + delta * delta * n * k / total
        n = total
    return n, mean, m2


def _row(spec: Spec, index: int, parts) -> dict:
    """The table's row of point ``index`` from its chunks' results, in chunk order: ``seconds``
    is the chunks' compute time summed."""
    n, mean, m2 = merge([p[:3] for p in parts])
    seconds = sum(p[4] for p in parts)
    device = ",".join(sorted({p[3] for p in parts}))
    se = math.sqrt(m2 / (n - 1) / n) if n > 1 else math.nan
    point = spec.points[index]
    exact = spec.quantity.theory(**dict(point)) if spec.quantity.theory else math.nan
    return {
        **{k: point[k] for k in spec.quantity.parameters},
        "point": index,
        "estimate": mean,
        "se": se,
        "theory": exact,
        "z": (mean - exact) / se if se and not math.isnan(exact) else math.nan,
        "samples": n,
        "seconds": seconds,
        "device": device,
        "version": __version__,
        "spec": spec.digest,
    }


def _write(rows: list[dict], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(sorted(rows, key=lambda r: r["point"]))
    partial = out.with_name(out.name + ".partial")
    pq.write_table(table, partial)
    os.replace(partial, out)


def _finished(spec: Spec, out: Path) -> list[dict]:
    """The rows already in ``out`` (a rerun skips their points); ValueError if ``out`` holds
    another SPEC's table."""
    if not out.exists():
        return []
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    other = {r.get("spec") for r in rows} - {spec.digest}
    if other:
        raise ValueError(
            f"{out} holds the table of another SPEC (fingerprint {sorted(map(str, other))}); "
            "give another --out, or remove it"
        )
    return rows


def run_sweep(
    spec: Spec,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = False,
) -> list[dict]:
    """Run ``spec`` on Dask and write its table to ``out`` (Parquet) as points finish.

    Parameters
    ----------
    spec : Spec
        The sweep (:func:`parse_spec`).
    out : str or pathlib.Path
        The Parquet file; the points already in it are skipped.
    scheduler : str, optional
        The address of a running Dask scheduler; ``None`` starts a ``LocalCluster``.
    workers : int
        Processes of the ``LocalCluster`` (one thread each); 0 runs the chunks in this process,
        without Dask.
    progress : bool
        Show a progress bar of the chunks (on standard error).

    Returns
    -------
    list of dict
        The table's rows, in the grid's order.
    """
    out = Path(out)
    rows = _finished(spec, out)
    done = {r["point"] for r in rows}
    todo = [i for i in range(len(spec.points)) if i not in done]
    if not todo:
        return sorted(rows, key=lambda r: r["point"])
    if workers == 0 and scheduler is None:  # in this process, without Dask
        for i in todo:
            parts = [chunk_moments(spec, i, j) for j in range(spec.chunks)]
            rows.append(_row(spec, i, parts))
            _write(rows, out)
        return sorted(rows, key=lambda r: r["point"])
    from distributed import Client, LocalCluster, as_completed

    cluster = (
        None
        if scheduler
        else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    tag = spec.digest
    with Client(scheduler or cluster) as client:
        futures = {
            (i, j): client.submit(
                chunk_moments, spec, i, j, key=f"sweep-{tag}-{i}-{j}", retries=3, pure=False
            )
            for i in todo
            for j in range(spec.chunks)
        }
        parts = {i: {} for i in todo}
        for count, future in enumerate(as_completed(list(futures.values())), 1):
            i, j = (int(x) for x in future.key.rsplit("-", 2)[1:])
            parts[i][j] = future.result()
            if progress:
                filled = 40 * count // len(futures)
                bar = "#" * filled + "." * (40 - filled)
                print(f"\r[{bar}] {count}/{len(futures)} chunks", end="", file=sys.stderr)
            if len(parts[i]) == spec.chunks:
                ordered = [parts[i][k] for k in range(spec.chunks)]
                rows.append(_row(spec, i, ordered))
                _write(rows, out)
    if cluster is not None:
        cluster.close()
    return sorted(rows, key=lambda r: r["point"])


def main(argv: list[str] | None = None) -> None:
    """The command line: ``python -m icl.sweep SPEC --out RESULTS.parquet``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m icl.sweep", description=__doc__.splitlines()[0]
    )
    parser.add_argument("spec", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    spec = parse_spec(args.spec.read_text(), args.spec.suffix)
    rows = run_sweep(spec, args.out, scheduler=args.scheduler, workers=args.workers, progress=True)
    print(f"\n{len(rows)} points of {spec.quantity.name} in {args.out}")


if __name__ == "__main__":
    main()
