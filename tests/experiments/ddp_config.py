"""The tiny config the DDP worker trains (shared with the single-process side of the equivalence test)."""
from infoflow.experiments.config import resolve_config


def tiny_config(loss: str = "vanilla", gather: str = "false", amp: str = "false", same: bool = False) -> dict:
    return resolve_config({"task": "denoise"}, [
        "model.depth=2", "model.ngf=4", "disc.ndf=4", "disc.n_layers=2", "data.crop=16", "data.batch_size=2",
        "data.train_patches=32", "data.test_images=1", "data.test_crop=32", "train.steps=6", "train.log_every=1",
        "train.eval_every=3", "train.ckpt_every=3", "train.sample_every=6", "train.diagnostics_every=3",
        f"loss.adversarial={loss}", f"diagnostics.gather_ranks={gather}", "diagnostics.probe_size=4",
        "diagnostics.n_per_image=4", f"train.amp={amp}"] + (["model.dropout=0"] if same else []))
