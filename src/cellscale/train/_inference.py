"""The form of a trained :class:`~cellscale.train._unet.UNet` that is exported to ONNX.

Same function, cheaper graph. Training uses the plain U-Net, whose decoder
concatenates nearest-upsampled coarse features with the encoder's features
and runs a 3x3 convolution on the result. In ONNX Runtime's int8 kernels the
``Resize`` and ``Concat`` of that design run on one thread and cost about a
quarter of the network's time. The exported form computes the same numbers
without them:

* BatchNorm is folded into each convolution's weights and bias.
* A 3x3 convolution is linear, so on ``concat(up(h), skip)`` it splits into
  ``conv_a(up(h)) + conv_b(skip)``.
* ``conv_a(up(h))``, with ``up`` the nearest 2x upsampling, is a 3x3
  convolution on ``h`` itself, at the coarse resolution, with four times the
  output channels, one set per output phase ``(dy, dx)``, followed by
  depth-to-space. Row ``dy`` of the fine grid reads coarse rows
  ``floor((dy + ky) / 2)`` for kernel rows ``ky`` in -1, 0, 1, so phase 0 gets
  the kernel rows ``[w0, w1 + w2, 0]`` and phase 1 gets ``[0, w0 + w1, w2]``
  (and the same along x).

The multiply-adds are unchanged; the outputs agree with the training form to
float rounding (about 1e-6), which :func:`cellscale.train._export.export_onnx`
checks on every export. The int8 network runs 1.10x faster on one thread
(shipped ``nuclei`` model, 512² and 720² tiles, 40 interleaved runs each).

Imports torch: training code only.
"""

from __future__ import annotations

import torch
from torch import nn

from cellscale.train._unet import UNet

__all__ = ["inference_form"]


def _fold(block: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``Conv2d(bias=False) -> BatchNorm2d`` as one convolution."""
    conv, norm = block[0], block[1]
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return conv.weight * scale[:, None, None, None], norm.bias - norm.running_mean * scale


def _phases(weight: torch.Tensor, axis: int) -> list[torch.Tensor]:
    """Kernels along ``axis`` for fine phases 0 and 1 of a nearest 2x upsampling."""
    w0, w1, w2 = (weight.select(axis, k) for k in range(3))
    zero = torch.zeros_like(w0)
    return [torch.stack([w0, w1 + w2, zero], dim=axis), torch.stack([zero, w0 + w1, w2], dim=axis)]


class _UpBlock(nn.Module):
    """``ReLU(BN(conv3x3(concat(up2(h), skip))))`` without the upsampling or the concat."""

    def __init__(self, block: nn.Sequential, n_up: int) -> None:
        super().__init__()
        weight, bias = _fold(block)
        n_out, n_in = weight.shape[:2]
        up = weight[:, :n_up]
        phased = torch.empty(n_out, 4, n_up, 3, 3, dtype=weight.dtype)
        for dy, rows in enumerate(_phases(up, 2)):
            for dx, kernel in enumerate(_phases(rows, 3)):
                phased[:, 2 * dy + dx] = kernel  # PixelShuffle's channel order
        self.coarse = nn.Conv2d(n_up, 4 * n_out, 3, padding=1, bias=False)
        self.coarse.weight.data = phased.reshape(4 * n_out, n_up, 3, 3).contiguous()
        self.skip = nn.Conv2d(n_in - n_up, n_out, 3, padding=1)
        self.skip.weight.data = weight[:, n_up:].contiguous()
        self.skip.bias.data = bias.clone()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shuffle(self.coarse(h)) + self.skip(skip))


class _InferenceUNet(nn.Module):
    """:class:`UNet`'s forward pass with :class:`_UpBlock` decoders (eval mode only)."""

    def __init__(self, model: UNet) -> None:
        super().__init__()
        self.model = model
        self.in_channels = model.in_channels
        self.up_blocks = nn.ModuleList(
            _UpBlock(block, model.widths[i + 1]) for i, block in enumerate(model.dec)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        packed, feats = m.encode(x)
        h = feats[-1]
        for i in range(len(self.up_blocks) - 1, -1, -1):
            h = self.up_blocks[i](h, feats[i])
        return torch.sigmoid(m.shuffle(m.head(torch.cat([h, packed], dim=1))))


def inference_form(model: UNet) -> nn.Module:
    """An eval-mode module computing ``model(x)`` with the cheaper decoder.

    Parameters
    ----------
    model : UNet
        A trained network; its weights are read (not shared for training) and
        it is put in eval mode.

    Returns
    -------
    torch.nn.Module
        Maps ``(N, C, H, W)`` to the same ``(N, K, H, W)`` probabilities.
    """
    model = model.cpu().eval()
    with torch.no_grad():
        return _InferenceUNet(model).eval()
