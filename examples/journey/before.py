"""Text detection, first version: the program as a team writes it before anyone profiles it.

    python before.py PAGES_FOLDER OUT_FOLDER MODEL_DIR

For every JPEG/PNG in PAGES_FOLDER: read it with OpenCV, resize it to the detector's 960x960 input and normalise it
in float64 numpy, run the TensorFlow text detector (PP-OCRv4's, a SavedModel: ``sightspeed models convert
ppocr-det-v4 --to tensorflow`` prints its folder) one image at a time, threshold the probability map, scale the mask
back to the full page and find the text boxes there (each grown to cover the whole line), then draw them and write OUT/<name>.jpg and OUT/<name>.json.
"""

import glob
import json
import os
import sys

import cv2
import numpy as np
import tensorflow as tf

SIZE = 960  # the detector's input, square
THRESHOLD = 0.3  # probability of "text"
MIN_AREA = 30  # px^2 on the page: smaller blobs are noise
GROW = 1.5  # the detector marks the core of each line: grow each box by area x GROW / perimeter on every side


def preprocess(image):
    x = cv2.resize(image, (SIZE, SIZE)).astype(np.float64)
    x = x / 255.0
    x = (x - 0.5) / 0.5
    x = x.transpose(2, 0, 1)[np.newaxis]
    return x.astype(np.float32)


def postprocess(prob, height, width):
    mask = (prob > THRESHOLD).astype(np.uint8) * 255
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours:
        if cv2.contourArea(contour) < MIN_AREA:
            continue
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        d = w * h * GROW / (2 * (w + h))
        w, h = w + 2 * d, h + 2 * d
        boxes.append([round(float(v), 1) for v in (cx, cy, w, h, angle)])
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def draw(image, boxes):
    out = image.copy()
    for cx, cy, w, h, angle in boxes:
        corners = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.int32)
        cv2.polylines(out, [corners], True, (0, 0, 255), 2)
    return out


def load_model(model_dir):
    return tf.saved_model.load(model_dir)


def process(model, path, out):
    image = cv2.imread(path)
    x = preprocess(image)
    prob = model.signatures["serving_default"](x=tf.constant(x))["sigmoid_0_tmp_0"].numpy()[0, 0]
    boxes = postprocess(prob, image.shape[0], image.shape[1])
    name = os.path.splitext(os.path.basename(path))[0]
    cv2.imwrite(os.path.join(out, name + ".jpg"), draw(image, boxes))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"boxes": boxes}, f)
    return boxes


def main(pages, out, model_dir):
    model = load_model(model_dir)
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(pages, "*.jpg")) + glob.glob(os.path.join(pages, "*.png"))):
        boxes = process(model, path, out)
        print(f"{os.path.basename(path)}: {len(boxes)} boxes")


if __name__ == "__main__":
    main(*sys.argv[1:4])
