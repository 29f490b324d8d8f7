"""The segmentation network: a narrow U-Net that runs at half resolution.

Layout (``widths=(16, 32, 64, 128)``, ``factor=2``)::

    input (C, H, W)
      └ space-to-depth 2x2 → (4C, H/2, W/2) ─────────────────────────────┐
          └ 3x3 conv → w0, block w0 ───────────────── conv w0 ─┐        │
               └ pool → block w1 (1/4) ────────── conv w1 ─ up ┘        │
                    └ pool → block w2 (1/8) ─ conv w2 ─ up ┘            │
                         └ pool → block w3 (1/16) ─ up ┘                │
                                        3x3 conv [w0 + 4C] → 4K ────────┘
                                        depth-to-space → (K, H, W), sigmoid

A block is two 3x3 conv + BatchNorm + ReLU; each decoder level is one such
conv on the concatenation of the upsampled (nearest) coarser features and the
encoder's features. No layer runs at full resolution: the input's pixels
reach the head through the space-to-depth skip and the head predicts every
pixel of each 2x2 cell (depth-to-space), so boundaries stay pixel-precise at
a quarter of the cost. The receptive field (about 190 px) covers the largest
nuclei of the working range (40 px). Input height and width must be multiples
of :func:`size_multiple` (16 by default). BatchNorm is folded into the
convolutions when the network is exported in eval mode.

This module imports torch, so only training code imports it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DEFAULT_WIDTHS", "UNet", "size_multiple"]

DEFAULT_WIDTHS = (16, 32, 64, 128)


def size_multiple(widths: tuple[int, ...], factor: int = 2) -> int:
    """Total down-sampling: ``factor * 2 ** (len(widths) - 1)``."""
    return factor * 2 ** (len(widths) - 1)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with a space-to-depth input and a depth-to-space output.

    Parameters
    ----------
    in_channels : int
        Input channels C.
    out_channels : int
        Output maps K.
    widths : tuple of int
        Feature channels per level, from ``1/factor`` resolution down.
    factor : int
        Space-to-depth factor of the input (the resolution of the first level).

    Notes
    -----
    ``forward`` returns probabilities (sigmoid applied), as the exported
    network must; training calls :meth:`logits` for numerically stable losses.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        factor: int = 2,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.widths = tuple(int(w) for w in widths)
        self.factor = int(factor)
        packed = in_channels * factor * factor
        self.unshuffle = nn.PixelUnshuffle(factor)
        self.shuffle = nn.PixelShuffle(factor)
        self.stem = _conv(packed, widths[0])
        self.enc = nn.ModuleList()
        prev = widths[0]
        for w in widths:
            self.enc.append(nn.Sequential(_conv(prev, w), _conv(w, w)))
            prev = w
        self.dec = nn.ModuleList(
            _conv(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 1)
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(widths[0] + packed, out_channels * factor * factor, 3, padding=1)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return size_multiple(self.widths, self.factor)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The space-to-depth input and the encoder's features, finest level first."""
        packed = self.unshuffle(x)
        h = self.stem(packed)
        feats = []
        for i, block in enumerate(self.enc):
            if i:
                h = self.pool(h)
            h = block(h)
            feats.append(h)
        return packed, feats

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C, H, W)`` to ``(N, K, H, W)`` logits."""
        packed, feats = self.encode(x)
        h = feats[-1]
        for i in range(len(self.dec) - 1, -1, -1):
            h = self.dec[i](torch.cat([self.up(h), feats[i]], dim=1))
        return self.shuffle(self.head(torch.cat([h, packed], dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C, H, W)`` to ``(N, K, H, W)`` probabilities."""
        return torch.sigmoid(self.logits(x))

    def arch(self) -> dict:
        """Constructor arguments, to rebuild the network from a checkpoint."""
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "widths": list(self.widths),
            "factor": self.factor,
        }
