"""The two torch models (training only; exported to ONNX).

Video2Roll: 5 consecutive rectified gray frames (B, 5, 48, 624), 0..255 -> per key (B, 88)
pressed logits for the middle frame and a velocity estimate 0..1. Four strided 3x3 convs take
the keyboard to (B, 64, 3, 156) (3 columns per white key), the rows fold into channels, a 1-D
conv mixes neighbouring columns, the column under each key's centre is gathered (fixed indices:
the network is translation-equivariant up to that point, so a slightly misplaced box shifts
features, not weights), then a 1-D conv over neighbouring keys plus a learned per-key bias.

Roll2Midi: Video2Roll probabilities over a 64-frame window (B, 64, 88) -> cleaned frame
probabilities and onset probabilities (B, 64, 88). Per key (shared weights) a dilated 1-D
temporal conv net over the key's own probability and its two neighbours' (a near-miss of the
keyboard box shows up as probability on the neighbour).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engines.piano.train.synth_video import KEY_CENTRE, N_KEYS, N_WHITE

RECT_W, RECT_H = 624, 48
STACK = 5
WINDOW = 64


def _block(ci, co, stride):
    return nn.Sequential(nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU())


class Video2Roll(nn.Module):
    def __init__(self, width: int = 1):
        super().__init__()
        c = [16 * width, 32 * width, 48 * width, 64 * width]
        self.conv = nn.Sequential(_block(STACK, c[0], (2, 2)), _block(c[0], c[1], (2, 1)),
                                  _block(c[1], c[2], (2, 2)), _block(c[2], c[3], (2, 1)))
        cols = RECT_W // 4
        self.col = nn.Sequential(nn.Conv1d(c[3] * (RECT_H // 16), 96, 3, 1, 1), nn.ReLU())
        idx = np.clip((KEY_CENTRE * cols / N_WHITE).astype(np.int64), 0, cols - 1)
        self.register_buffer("idx", torch.from_numpy(idx), persistent=False)
        self.keys = nn.Sequential(nn.Conv1d(96, 64, 3, 1, 1), nn.ReLU())
        self.key_bias = nn.Parameter(torch.zeros(1, 64, N_KEYS))
        self.head = nn.Conv1d(64, 2, 1)

    def forward(self, frames):
        x = frames * (1.0 / 255.0) - 0.5
        x = self.conv(x)
        b, ch, h, w = x.shape
        x = self.col(x.reshape(b, ch * h, w))
        x = torch.index_select(x, 2, self.idx)
        x = self.keys(x) + self.key_bias
        y = self.head(torch.relu(x))
        return y[:, 0], torch.sigmoid(y[:, 1])


class Roll2Midi(nn.Module):
    def __init__(self, ch: int = 32):
        super().__init__()
        layers = [nn.Conv1d(3, ch, 5, 1, 2), nn.ReLU()]
        for d in (1, 2, 4, 8):
            layers += [nn.Conv1d(ch, ch, 3, 1, d, dilation=d), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out = nn.Conv1d(ch, 2, 1)

    def forward(self, probs):                         # (B, T, 88) -> frame, onset probabilities
        f, o = self.logits(probs)
        return torch.sigmoid(f), torch.sigmoid(o)

    def logits(self, probs):
        b, t, k = probs.shape
        x = probs.transpose(1, 2)                     # (B, 88, T)
        pad = torch.nn.functional.pad(x, (0, 0, 1, 1))
        x = torch.stack([x, pad[:, :-2], pad[:, 2:]], 2).reshape(b * k, 3, t)   # own + neighbours
        y = self.out(self.net(x * 2.0 - 1.0)).reshape(b, k, 2, t)
        return y[:, :, 0].transpose(1, 2), y[:, :, 1].transpose(1, 2)
