"""Submit a ``reproduce`` sweep as N shard jobs with submitit (SLURM, or local processes to try it).

    infoflow reproduce --preset full --submit 8 --cluster slurm --partition gpu --gpus 1 --out /shared/runs/full

Each job runs ``reproduce(options.but(shard=f"{i}/{N}", report=False, progress=False))``; with ``--wait`` the report is
built once every job has finished (otherwise run ``infoflow report OUT`` afterwards). Needs the
``slurm`` extra (``pip install -e .[slurm]``).
"""
from __future__ import annotations

from typing import Any

from .sweep_options import SweepOptions

__all__ = ["submit_shards"]


def _run_shard(options: SweepOptions) -> dict[str, Any]:
    from .reproduce import reproduce

    return reproduce(options)


def submit_shards(n_shards: int, options: SweepOptions, cluster: str = "slurm", partition: str | None = None,
                  gpus: int = 0, cpus: int = 4, timeout_min: int = 24 * 60, wait: bool = False) -> list[Any]:
    """Submit the sweep ``options`` as ``n_shards`` jobs; returns the submitit jobs (their logs live
    in ``OUT/submitit``)."""
    try:
        import submitit
    except ImportError:
        raise RuntimeError("--submit needs submitit: pip install -e '.[slurm]'") from None
    if n_shards < 1:
        raise ValueError(f"--submit needs at least 1 shard, got {n_shards}")
    out, preset = options.out, options.preset
    ex = submitit.AutoExecutor(folder=out / "submitit", cluster=None if cluster == "auto" else cluster)
    params: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": cpus, "name": f"infoflow-{preset}"}
    if cluster in ("slurm", "auto"):
        params["slurm_partition"] = partition
        params["gpus_per_node"] = gpus
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    jobs = [ex.submit(_run_shard, options.but(shard=f"{i}/{n_shards}", report=False, progress=False))
            for i in range(n_shards)]
    if wait:
        results = [j.result() for j in jobs]
        from .report import build_report

        build_report(out)
        print(f"{sum(r['trained'] for r in results)} runs trained over {n_shards} jobs; report in {out}/report")
    return jobs
