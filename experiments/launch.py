"""Submit a ``reproduce`` sweep as N shard jobs with submitit (SLURM, or local processes to try it).

    infoflow reproduce --preset full --submit 8 --cluster slurm --partition gpu --gpus 1 --out /shared/runs/full

Each job runs ``reproduce(..., shard=f"{i}/{N}", report=False)``; with ``--wait`` the report is
built once every job has finished (otherwise run ``infoflow report OUT`` afterwards). Needs the
``slurm`` extra (``pip install -e .[slurm]``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["submit_shards"]


def _run_shard(kwargs: dict[str, Any]) -> dict[str, Any]:
    from .reproduce import reproduce

    return reproduce(**kwargs)


def submit_shards(n_shards: int, preset: str, tasks: Sequence[str], problems: Sequence[str], seeds: int | None,
                  device: str, out: str | Path, cluster: str = "slurm", partition: str | None = None,
                  gpus: int = 0, cpus: int = 4, timeout_min: int = 24 * 60, wait: bool = False,
                  configs: Sequence[str] | None = None) -> list[Any]:
    """Submit ``n_shards`` jobs (``configs``: only those configurations, as ``reproduce``); returns
    the submitit jobs (their logs live in ``OUT/submitit``)."""
    try:
        import submitit
    except ImportError:
        raise RuntimeError("--submit needs submitit: pip install -e '.[slurm]'") from None
    if n_shards < 1:
        raise ValueError(f"--submit needs at least 1 shard, got {n_shards}")
    out = Path(out)
    ex = submitit.AutoExecutor(folder=out / "submitit", cluster=None if cluster == "auto" else cluster)
    params: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": cpus, "name": f"infoflow-{preset}"}
    if cluster in ("slurm", "auto"):
        params["slurm_partition"] = partition
        params["gpus_per_node"] = gpus
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    base = {"preset": preset, "tasks": list(tasks), "problems": list(problems), "seeds": seeds, "device": device,
            "out": str(out), "report": False, "progress": False,
            "configs": list(configs) if configs is not None else None}
    jobs = [ex.submit(_run_shard, {**base, "shard": f"{i}/{n_shards}"}) for i in range(n_shards)]
    if wait:
        results = [j.result() for j in jobs]
        from .report import build_report

        build_report(out)
        print(f"{sum(r['trained'] for r in results)} runs trained over {n_shards} jobs; report in {out}/report")
    return jobs
