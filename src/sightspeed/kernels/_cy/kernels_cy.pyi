import numpy as np

SIMD: int

def normalize_chw(src: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool,
                  threads: int = 1) -> None: ...
def blend(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, out: np.ndarray, threads: int = 1) -> None: ...
def resize_normalize_chw(src: np.ndarray, out: np.ndarray, ofs: np.ndarray, wx: np.ndarray, y0: np.ndarray,
                         y1: np.ndarray, wy: np.ndarray, a: np.ndarray, b: np.ndarray, swap: bool, n_simd: int,
                         simd: int, threads: int = 1) -> None: ...
