"""ocr: PP-OCRv4 detection -> crops -> angle classification -> batched recognition."""

from __future__ import annotations

from .task import OcrOptions as OcrOptions
from .task import build as build
