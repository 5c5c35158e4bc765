"""What the PP-OCR models and the task's output are defined by, shared by both variants (the only code they share
besides the model files): input sizes and normalisation, the DB post-processing settings (PP-OCR's / RapidOCR's
published defaults), the angle classifier's and the recogniser's input geometry, and the score thresholds.
Numbers only; no processing."""

from __future__ import annotations

# every model: BGR levels x mapped to (x / 255 - 0.5) / 0.5
MEAN, STD, SCALE = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255

# detection (DBNet): the short side raised to 736 (RapidOCR's limit_side_len, limit_type "min"), never past 4096 on
# the long side, both rounded to multiples of 32
LIMIT_SIDE, MAX_SIDE, DET_MULTIPLE = 736, 4096, 32
# DB post-processing: probability threshold, box score threshold, unclip ratio, minimum box side, contours kept
THRESH, BOX_THRESH, UNCLIP, MIN_SIZE, MAX_CANDIDATES = 0.3, 0.5, 1.6, 3, 1000
# boxes whose tops are this close (pixels) are one line, read left to right
SAME_LINE = 10

# crops: height 48 keeping aspect; a crop at least 1.5x taller than wide is turned 90 degrees first
HEIGHT = 48
TALL = 1.5
# angle classifier: width 192; a crop is upside down when label 1 ("180") has probability >= 0.9
CLS_WIDTH, CLS_THRESH = 192, 0.9
# recogniser: each crop padded to its own width rounded up to 32, at least 320 (48 x 320/48, as PP-OCR trains
# it); lines whose mean character probability is below 0.5 are dropped
REC_MIN_WIDTH, REC_WIDTH_STEP, TEXT_SCORE = 320, 32, 0.5
