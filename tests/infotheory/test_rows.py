"""The one tidy-row helper: the schema every measurement returns."""
import json
import math

import numpy as np
import torch

from infoflow.infotheory import tidy_row


def test_a_row_holds_a_float_value_and_leaves_out_what_was_not_given():
    row = tidy_row(np.int64(3), "detail", "I(Y_b;Yhat_b)", torch.tensor(0.25), "L0", estimator="gaussian",
                   params=json.dumps({"a": 1}), n=128)
    assert row == {"step": 3, "split": "detail", "metric": "I(Y_b;Yhat_b)", "value": 0.25, "layer": "L0",
                   "estimator": "gaussian", "params": '{"a": 1}', "n": 128}
    assert type(row["value"]) is float
    bare = tidy_row(0, "gradients", "grad_norm_adv", np.float32(1.5))
    assert set(bare) == {"step", "split", "metric", "value", "layer"} and bare["layer"] == ""
    assert math.isnan(tidy_row(0, "infoplane", "I(X;T)", float("nan"))["value"])


def test_a_run_folder_logs_the_same_row(tmp_path):
    from infoflow.experiments.runfolder import RunFolder

    run = RunFolder(tmp_path / "run")
    run.log(7, "train", "loss_g", np.float32(0.5), layer="enc1", params={"b": 2, "a": 1})
    run.log(8, "train", "loss_d", torch.tensor(0.25))
    assert run.rows == [tidy_row(7, "train", "loss_g", 0.5, "enc1", params='{"a": 1, "b": 2}'),
                        tidy_row(8, "train", "loss_d", 0.25)]
