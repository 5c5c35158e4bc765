"""portrait: face ROI -> selfie segmentation -> background (blur, colour or image) pasted back."""

from __future__ import annotations

from .task import PortraitOptions as PortraitOptions
from .task import build as build
