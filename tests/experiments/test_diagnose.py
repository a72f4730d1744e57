"""``infoflow diagnose`` end to end on models defined in a temporary file: known answers (an
identity restorer scores exactly the input's PSNR), every section written, and clear errors."""
import base64
import textwrap
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data, io
from skimage.transform import resize

from infoflow.experiments.cli import main
from infoflow.experiments.diagnose import diagnose, find_multiple, load_factory

MODELS = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        """One down- and one up-sampling; ``gain`` = 0 makes it the identity."""
        def __init__(self, gain=1.0, c=1):
            super().__init__()
            self.gain = gain
            self.head = nn.Conv2d(c, 8, 3, padding=1)
            self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.mid = nn.Sequential(nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
            self.up = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
            self.tail = nn.Conv2d(8, c, 3, padding=1)
        def forward(self, x):
            h = self.head(x)
            return x + self.gain * self.tail(torch.relu(self.up(self.mid(self.down(h))) + h))

    class Disc(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(2, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, 1, 1))
        def forward(self, x, img):
            return self.net(torch.cat([x, img], 1))

    class Flat(nn.Module):  # takes no image: flattens to a fixed-size linear layer
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)
        def forward(self, x):
            return self.fc(x.flatten(1))

    def make():
        return Net()

    def identity():
        return Net(gain=0.0)

    def disc():
        return Disc()

    def flat():
        return Flat()

    def helper_not_a_module():
        return 3

    def broken():
        raise KeyError("num_blocks")
''')


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    (root / "user_models.py").write_text(MODELS)
    imgs = root / "clean"
    imgs.mkdir()
    for i, img in enumerate([data.camera(), data.coins(), data.moon()]):
        io.imsave(imgs / f"im{i}.png", (resize(img, (96, 80)) * 255).astype(np.uint8), check_contrast=False)
    return root


class _Page(HTMLParser):
    """Tag balance, anchors and embedded images of a page."""

    VOID = {"meta", "img", "br", "input", "hr", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.ids, self.hrefs, self.imgs = [], [], set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids.add(a.get("id"))
        if a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_page(text: str) -> _Page:
    """A structural check that would catch a broken page: balanced tags, anchors that resolve,
    images that decode as PNG."""
    p = _Page()
    p.feed(text)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    assert all(h in p.ids for h in p.hrefs), set(p.hrefs) - p.ids
    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    return p


def test_diagnose_end_to_end_with_a_discriminator(files, tmp_path, monkeypatch):
    import infoflow.experiments.classical_refs as refs

    monkeypatch.setattr(refs, "methods_for", lambda task: ["nlm"])  # BM3D (an optional extra) is slow
    page = diagnose(f"{files / 'user_models.py'}:make", tmp_path / "out", images=str(files / "clean"),
                    sets=["sigma=25"], disc=f"{files / 'user_models.py'}:disc", probe_size=200, crop=32,
                    d_probe_steps=6, device="cpu")
    df = pd.read_csv(tmp_path / "out" / "diagnosis.csv")
    assert {"scores", "infoplane", "abstraction", "detail", "gradients", "d_probe"} <= set(df.section)
    assert set(df[df.section == "infoplane"].layer) == {"down", "up"}  # found automatically: resolution changes
    ab = df[(df.section == "abstraction") & (df.metric == "I(T;Y)")]
    assert list(ab.layer) == ["down"] and ab.n.iloc[0] == 200
    assert df[(df.section == "gradients") & (df.metric == "grad_ratio_adv_content")].value.gt(0).all()
    text = page.read_text()
    assert "classical: nlm" in text and "Information plane" in text and "Detail loss per band" in text
    assert len(check_page(text).imgs) >= 3


def test_identity_model_scores_exactly_its_input(files, tmp_path):
    diagnose(f"{files / 'user_models.py'}:identity", tmp_path / "id", images=str(files / "clean"), sets=["sigma=25"],
             probe_size=16, crop=32, classical=False, device="cpu")
    s = pd.read_csv(tmp_path / "id" / "diagnosis.csv")
    m = s[(s.section == "scores") & (s.layer == "mean")].set_index("metric").value
    assert m["psnr"] == pytest.approx(m["psnr_input"], abs=1e-4)  # known by construction
    assert "abstraction" not in set(s.section)  # 16 crops < 200: the depth measurement is not made


def test_pairs_folder_and_cli(files, tmp_path, capsys):
    pairs = tmp_path / "pairs"
    (pairs / "input").mkdir(parents=True)
    (pairs / "target").mkdir()
    rng = np.random.default_rng(0)
    for p in sorted((files / "clean").glob("*.png")):
        clean = io.imread(p).astype(float) / 255
        io.imsave(pairs / "target" / p.name, (clean * 255).astype(np.uint8), check_contrast=False)
        noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
        io.imsave(pairs / "input" / p.name, (noisy * 255).round().astype(np.uint8), check_contrast=False)
    code = main(["diagnose", "--model", f"{files / 'user_models.py'}:identity", "--data", str(pairs), "--probe-size", "16",
                 "--crop", "32", "--no-classical", "--device", "cpu", "--out", str(tmp_path / "o")])
    assert code == 0 and "diagnosis:" in capsys.readouterr().out
    s = pd.read_csv(tmp_path / "o" / "diagnosis.csv")
    m = s[(s.section == "scores") & (s.layer == "mean")].set_index("metric").value
    assert m["psnr"] == pytest.approx(m["psnr_input"], abs=1e-4) and 19 < m["psnr_input"] < 22


def test_clear_errors(files, tmp_path, capsys):
    f = files / "user_models.py"
    with pytest.raises(ValueError, match=r"no factory 'nope'.*'disc', .*'make'"):
        load_factory(f"{f}:nope")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_factory(str(tmp_path / "missing.py") + ":make")
    with pytest.raises(ValueError, match="FILE.py:FACTORY"):
        load_factory("just_a_name")
    with pytest.raises(RuntimeError, match=r"the model factory .*user_models.py:broken raised KeyError: 'num_blocks'"):
        diagnose(f"{f}:broken", tmp_path / "x", images=str(files / "clean"))
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        diagnose(f"{f}:helper_not_a_module", tmp_path / "x", images=str(files / "clean"))
    bad = tmp_path / "bad.pt"
    torch.save({"head.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ValueError, match=r"do not fit the model: missing keys .*shape mismatches"):
        diagnose(f"{f}:make", tmp_path / "x", weights=str(bad), images=str(files / "clean"), device="cpu")
    with pytest.raises(ValueError, match=r"no layer 'enc9'; available: \['head', 'down'"):
        diagnose(f"{f}:make", tmp_path / "x", images=str(files / "clean"), layers=["enc9"], device="cpu")
    with pytest.raises(ValueError, match="cannot take images of any size"):
        diagnose(f"{f}:flat", tmp_path / "x", images=str(files / "clean"), mode="grey", device="cpu")
    with pytest.raises(FileNotFoundError, match="input/ and target/"):
        diagnose(f"{f}:make", tmp_path / "x", data=str(files / "clean"), device="cpu")
    assert main(["diagnose", "--model", f"{f}:nope", "--images", str(files / "clean"), "--out", str(tmp_path)]) == 2
    assert "no factory" in capsys.readouterr().err


def test_find_multiple():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, 2, 1), torch.nn.Conv2d(1, 1, 3, 2, 1),
                              torch.nn.Upsample(scale_factor=4))
    assert find_multiple(net, 1, torch.device("cpu")) == 4
    assert find_multiple(torch.nn.Conv2d(1, 1, 3, padding=1), 1, torch.device("cpu")) == 1


def test_one_restore_function_for_both_value_ranges():
    from infoflow.experiments.evaluate import restore

    img = np.random.default_rng(0).random((20, 23)).astype(np.float32)  # not a multiple of 8: padded, cropped back

    class UnitRange(torch.nn.Module):  # a restorer that works in [0, 1] (clamps there)
        def forward(self, t):
            return t.clamp(0, 1)

    G = UnitRange()
    assert np.allclose(restore(G, img, torch.device("cpu"), 8, "0,1"), img, atol=1e-6)
    assert not np.allclose(restore(G, img, torch.device("cpu"), 8, "-1,1"), img, atol=1e-2)  # the wrong range shows
    assert np.allclose(restore(torch.nn.Identity(), img, torch.device("cpu"), 8), img, atol=1e-6)
    with pytest.raises(ValueError, match="value_range"):
        restore(G, img, torch.device("cpu"), 8, "0,255")


FOREIGN = textwrap.dedent('''
    """A third-party-style restorer: its constructor needs arguments, it works on [0, 1] images."""
    import torch
    from torch import nn


    class UnitRangeNet(nn.Module):
        def __init__(self, channels, features):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(features, channels, 3, padding=1))
            nn.init.zeros_(self.body[2].weight)
            nn.init.zeros_(self.body[2].bias)

        def forward(self, x):  # [0, 1] in, [0, 1] out: the identity at initialisation
            return (x + self.body(x)).clamp(0, 1)


    def build_model():  # the documented wrapper: the factory takes no arguments
        return UnitRangeNet(1, 8)
''')


def test_the_documented_diagnose_example_runs_on_a_foreign_generator(files, tmp_path):
    """README / docs: `infoflow diagnose --model my_net.py:build_model --weights ckpt.pt --images
    my_clean_images/ --degradation awgn --set sigma=25 --range 0,1 --out diag/`, as written."""
    net = tmp_path / "my_net.py"
    net.write_text(FOREIGN)
    from infoflow.experiments.diagnose import build_model

    torch.save(build_model(f"{net}:build_model", None).state_dict(), tmp_path / "ckpt.pt")
    assert main(["diagnose", "--model", f"{net}:build_model", "--weights", str(tmp_path / "ckpt.pt"), "--images",
                 str(files / "clean"), "--degradation", "awgn", "--set", "sigma=25", "--range", "0,1",
                 "--out", str(tmp_path / "diag")]) == 0
    s = pd.read_csv(tmp_path / "diag" / "diagnosis.csv")
    m = s[(s.section == "scores") & (s.layer == "mean")].set_index("metric").value
    # read in its own range the identity restores nothing; in the wrong one its clamp would cut the negatives
    assert m["psnr"] == pytest.approx(m["psnr_input"], abs=0.05)
    assert (tmp_path / "diag" / "report.html").is_file()
