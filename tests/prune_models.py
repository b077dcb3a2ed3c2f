"""Small models for the pruning and hierarchy tests (`features(x)` -> embedding, `classifier` on top), and a
small ST-GCN / UNIK: the ones more than one test module uses."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from schemas.layouts import get_layout


class FeatureNet(nn.Module):
    """The interface hierarchy and pruning use: `features(x)` -> embedding, `classifier` on top."""

    def forward(self, x):
        return self.classifier(self.features(x))


class ChainNet(FeatureNet):
    """conv1 -> bn1 -> relu -> pool -> conv2 -> bn2 -> relu -> conv3 -> pool -> embedding -> classifier."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(10)
        self.conv2 = nn.Conv2d(10, 20, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(20)
        self.conv3 = nn.Conv2d(20, 8, 1)
        self.classifier = nn.Linear(8, num_classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.conv3(x).mean(dim=(2, 3))


class ResidualNet(FeatureNet):
    """stem feeds a residual block; only the block's first conv can be pruned on its own."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 10, 3, padding=1), nn.BatchNorm2d(10), nn.ReLU(inplace=True),
                                   nn.Conv2d(10, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.head = nn.Conv2d(8, 8, 1)
        self.classifier = nn.Linear(8, 4)

    def features(self, x):
        x = self.stem(x)
        x = F.relu(x + self.block(x))
        return self.head(x).mean(dim=(2, 3))


class MLPNet(FeatureNet):
    """Hidden Linear layers; the last one feeds the classifier (the embedding width D is protected)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 20)
        self.fc2 = nn.Linear(20, 10)
        self.drop = nn.Dropout(0.0)
        self.classifier = nn.Linear(10, 3)

    def features(self, x):
        return F.relu(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class ShortcutNet(FeatureNet):
    """relu(bn(conv(x)) + x) -> out: the identity shortcut follows the pruned channels as a ChannelSelect."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.skip = nn.Identity()
        self.out = nn.Conv1d(6, 4, 1)
        self.classifier = nn.Linear(4, 2)

    def hidden(self, x):
        return torch.relu(self.bn(self.conv(x)) + self.skip(x))

    def features(self, x):
        return self.out(self.hidden(x)).mean(dim=2)

    def prunable_groups(self):
        return [{"producers": "conv", "norms": "bn", "consumers": "out", "shortcuts": "skip"}]


def make_gcn(model_cls, layout: str, base: int = 10, classes: int = 7):
    return model_cls(classes, get_layout(layout), in_channels=3, base_channels=base)
