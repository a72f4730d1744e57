"""Models infoflow did not write, in the styles users bring: a torchvision-style ResNet generator in
an ``nn.Sequential`` with BatchNorm, a DnCNN with in-place ReLUs, a pix2pix-port PatchGAN that
takes ``cat([x, y])``, and a generator with a layer that returns a tuple."""
from __future__ import annotations

import torch
from torch import nn


class ResnetBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), nn.BatchNorm2d(ch),
                                  nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False),
                                  nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet_generator(c: int = 1, ngf: int = 8, n_blocks: int = 2) -> nn.Sequential:
    """CycleGAN/torchvision-style: down 2× twice (modules '4' and '7'), residual blocks, up twice."""
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(c, ngf, 7, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.Conv2d(ngf, 2 * ngf, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(True),
        nn.Conv2d(2 * ngf, 4 * ngf, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(True),
        *[ResnetBlock(4 * ngf) for _ in range(n_blocks)],
        nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(2 * ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(2 * ngf, ngf, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ReflectionPad2d(3), nn.Conv2d(ngf, c, 7), nn.Tanh())


class DnCNN(nn.Module):
    """Zhang et al. 2017: conv+ReLU, (conv+BN+ReLU)×n, conv; predicts the noise (residual learning)."""

    def __init__(self, c: int = 1, ch: int = 8, n: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c, ch, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(n):
            layers += [nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(ch, c, 3, padding=1))
        self.dncnn = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.dncnn(x)


def concat_patchgan(c: int = 1, ndf: int = 8) -> nn.Sequential:
    """pix2pix-port PatchGAN: one input, the conditional pair concatenated on channels."""
    return nn.Sequential(nn.Conv2d(2 * c, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
                         nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf),
                         nn.LeakyReLU(0.2, True), nn.Conv2d(2 * ndf, 1, 4, 1, 1))


class TupleBlock(nn.Module):
    """Returns (features, auxiliary map), as attention or recurrent blocks do."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 2, 1)
        self.bn = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.bn(self.conv(x)))
        return h, h.mean(1, keepdim=True)


class TupleGenerator(nn.Module):
    def __init__(self, c: int = 1, ch: int = 8) -> None:
        super().__init__()
        self.head = nn.Conv2d(c, ch, 3, padding=1)
        self.down = TupleBlock(ch)
        self.up = nn.ConvTranspose2d(ch, c, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, attn = self.down(self.head(x))
        return x + self.up(h * torch.sigmoid(attn))
