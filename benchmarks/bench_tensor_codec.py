"""An experiment: the input codec's JPEG round trip as batched tensor operations, against OpenCV.

    python benchmarks/bench_tensor_codec.py [--repeats 7] [--n 512] [--threads 1 --threads 2]
        [--model DIR]

The bundled model's ``input_codec`` (JPEG quality 75, 4:2:0) sends every patch through
libjpeg-turbo (``pathview.model.codec.InputCodec.apply``, OpenCV). :class:`TensorJpeg` computes
the same round trip without entropy coding, stage by stage as libjpeg-turbo defines it, as
integer arithmetic carried in float tensors:

- RGB -> YCbCr with jccolor.c's 16-bit fixed-point constants and rounding (``+ONE_HALF`` for Y,
  ``+ONE_HALF-1`` for Cb/Cr), as a 3 x 3 matrix product and a floor;
- h2v2 downsampling (jcsample.c): the sum of each 2 x 2 block plus the alternating bias 1, 2,
  shifted right by 2;
- level shift and jfdctint.c's integer ("islow") DCT: its two separable passes are integer
  8 x 8 matrices (read off the butterflies below), each followed by the same DESCALE rounding
  (11 bits after the rows, 15 after the columns);
- quantisation as jcdctmgr.c does it (``(|x| + 4q) // 8q`` with the sign restored) with the
  IJG tables scaled for the quality, and dequantisation;
- jidctint.c's integer inverse DCT (DESCALE by 11, then by 18, +128, range-limited);
- h2v2 "fancy" upsampling (jdsample.c): the 9/3/3/1 triangle with edge replication, +8 on even
  and +7 on odd output columns, shifted right by 4;
- YCbCr -> RGB with jdcolor.c's tables, clamped to 0..255.

In float64 this is bit-identical to OpenCV/Pillow on every fixture patch; in float32 the DCT
passes' integer sums can exceed 2^24, so about one value in 100,000 moves by a grey level or two.
It runs in chunks of ``chunk`` patches so the intermediates stay in cache.

What it prints, on the real fixture patches (tests/data/kaggle, tiled to ``--n``): throughput of
OpenCV and of the tensor codec (float32 and float64) at each ``--threads`` (best and median of
``--repeats``), closeness to OpenCV (mean / max |difference|, fraction of values identical and
within 1 grey level) and, for the bundled model (or ``--model``) with its int8 and its float32
network, how far P(tumour) moves when the tensor codec replaces OpenCV (mean / max |dP|, calls
at 0.5 that change).

Not a test (tests/test_bench_tensor_codec.py checks the closeness). Timings vary with the
machine's load; intra-op threads suffer most when other processes hold the cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.core.resources import bundled_model_dir  # noqa: E402
from pathview.io import read_patch  # noqa: E402
from pathview.model import load_model  # noqa: E402
from pathview.model.codec import InputCodec  # noqa: E402

#: The IJG example tables (JPEG standard, Annex K), row = vertical frequency.
LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
CHROMA_TABLE = np.full((8, 8), 99)
CHROMA_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def quality_table(base: np.ndarray, quality: int) -> np.ndarray:
    """jcparam.c: jpeg_quality_scaling, then (base * scale + 50) // 100 clamped to 1..255."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255).astype(np.int64)


def _fix(x: float) -> int:
    """libjpeg's FIX(x) for the colour conversions: x with 16 fraction bits."""
    return int(x * 65536 + 0.5)


# The DCTs' FIX constants, 13 fraction bits (jfdctint.c / jidctint.c, CONST_BITS = 13).
_C = {
    "0_298": 2446,
    "0_390": 3196,
    "0_541": 4433,
    "0_765": 6270,
    "0_899": 7373,
    "1_175": 9633,
    "1_501": 12299,
    "1_847": 15137,
    "1_961": 16069,
    "2_053": 16819,
    "2_562": 20995,
    "3_072": 25172,
}


def _fdct_sums(d: np.ndarray) -> np.ndarray:
    """jfdctint.c's 1-D pass on integer rows (..., 8), before its DESCALE; outputs 0 and 4 are
    scaled by 2^13 so that every output descales by the same shift."""
    t0, t7 = d[..., 0] + d[..., 7], d[..., 0] - d[..., 7]
    t1, t6 = d[..., 1] + d[..., 6], d[..., 1] - d[..., 6]
    t2, t5 = d[..., 2] + d[..., 5], d[..., 2] - d[..., 5]
    t3, t4 = d[..., 3] + d[..., 4], d[..., 3] - d[..., 4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    z1 = (t12 + t13) * _C["0_541"]
    o0, o4 = (t10 + t11) << 13, (t10 - t11) << 13
    o2, o6 = z1 + t13 * _C["0_765"], z1 - t12 * _C["1_847"]
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * _C["1_175"]
    t4, t5, t6, t7 = t4 * _C["0_298"], t5 * _C["2_053"], t6 * _C["3_072"], t7 * _C["1_501"]
    z1, z2 = -z1 * _C["0_899"], -z2 * _C["2_562"]
    z3, z4 = -z3 * _C["1_961"] + z5, -z4 * _C["0_390"] + z5
    o7, o5, o3, o1 = t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4
    return np.stack([o0, o1, o2, o3, o4, o5, o6, o7], -1)


def _idct_sums(c: np.ndarray) -> np.ndarray:
    """jidctint.c's 1-D pass on dequantised coefficients (..., 8), before its DESCALE."""
    z1 = (c[..., 2] + c[..., 6]) * _C["0_541"]
    tmp2, tmp3 = z1 - c[..., 6] * _C["1_847"], z1 + c[..., 2] * _C["0_765"]
    tmp0, tmp1 = (c[..., 0] + c[..., 4]) << 13, (c[..., 0] - c[..., 4]) << 13
    t10, t13, t11, t12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    tmp0, tmp1, tmp2, tmp3 = c[..., 7], c[..., 5], c[..., 3], c[..., 1]
    z1, z2, z3, z4 = tmp0 + tmp3, tmp1 + tmp2, tmp0 + tmp2, tmp1 + tmp3
    z5 = (z3 + z4) * _C["1_175"]
    tmp0, tmp1 = tmp0 * _C["0_298"], tmp1 * _C["2_053"]
    tmp2, tmp3 = tmp2 * _C["3_072"], tmp3 * _C["1_501"]
    z1, z2 = -z1 * _C["0_899"], -z2 * _C["2_562"]
    z3, z4 = -z3 * _C["1_961"] + z5, -z4 * _C["0_390"] + z5
    tmp0, tmp1, tmp2, tmp3 = tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
    return np.stack(
        [t10 + tmp3, t11 + tmp2, t12 + tmp1, t13 + tmp0, t13 - tmp0, t12 - tmp1, t11 - tmp2,
         t10 - tmp3],
        -1,
    )  # fmt: skip


def _matrix(butterfly: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The integer matrix M (out x in) of a linear butterfly: butterfly(x) == M @ x."""
    eye = np.eye(8, dtype=np.int64)
    return np.stack([butterfly(eye[i]) for i in range(8)], 1)


FDCT = _matrix(_fdct_sums)
IDCT = _matrix(_idct_sums)


class TensorJpeg:
    """JPEG encode + decode (baseline, 4:2:0, islow DCT, libjpeg-turbo's rounding) as tensor
    operations; the same contract as :meth:`InputCodec.apply`. 96 x 96 patches only."""

    def __init__(self, quality: int = 75, dtype: torch.dtype = torch.float32, chunk: int = 32):
        def t(a: object) -> torch.Tensor:
            return torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype)

        self.quality, self.dtype, self.chunk = quality, dtype, chunk
        rgb_ycc = [
            [_fix(0.299), _fix(0.587), _fix(0.114)],
            [-_fix(0.16874), -_fix(0.33126), _fix(0.5)],
            [_fix(0.5), -_fix(0.41869), -_fix(0.08131)],
        ]
        self._rgb_ycc = t(np.array(rgb_ycc) / 65536)
        # + ONE_HALF (Y) / ONE_HALF - 1 (Cb, Cr), and the level shift (-128) folded in.
        self._ycc_bias = t(np.array([[32768 - (128 << 16)], [32767], [32767]]) / 65536)
        self._fdct_rows = t(FDCT.T / 2**11)  # DESCALE(CONST_BITS - PASS1_BITS)
        self._fdct_cols = t(FDCT / 2**15)  # DESCALE(CONST_BITS + PASS1_BITS)
        self._idct_cols = t(IDCT / 2**11)
        self._idct_rows = t(IDCT.T / 2**18)  # DESCALE(CONST_BITS + PASS1_BITS + 3)
        self._tables = {}
        for name, base, width in (("luma", LUMA_TABLE, 96), ("chroma", CHROMA_TABLE, 48)):
            q = np.tile(quality_table(base, quality), (1, width // 8))  # [v, bx * 8 + u]
            self._tables[name] = (t(q), t(1 / (8 * q)))
        self._down_bias = t([0.25, 0.5] * 24)  # bias 1, 2, 1, 2 ... before >> 2
        up = np.zeros((48, 96))  # horizontal 3a + b with the edge replicated
        for j in range(48):
            up[j, 2 * j] += 3
            up[max(j - 1, 0), 2 * j] += 1
            up[j, 2 * j + 1] += 3
            up[min(j + 1, 47), 2 * j + 1] += 1
        self._up_cols = t(up)
        self._up_bias = t(np.tile([8 - 128 * 16, 7 - 128 * 16], 48))  # +8 / +7, level shift
        self._cr_r = _fix(1.402) / 65536
        self._cr_g, self._cb_g = -_fix(0.71414) / 65536, -_fix(0.34414) / 65536
        self._cb_b = _fix(1.772) / 65536

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N x 96 x 96 x 3 RGB -> the same patches after encoding and decoding."""
        if pixels.ndim != 4 or pixels.shape[1:] != (96, 96, 3) or pixels.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 N x 96 x 96 x 3 RGB pixels, got {pixels.dtype} {pixels.shape}"
            )
        out = np.empty_like(pixels)
        with torch.inference_mode():
            for start in range(0, len(pixels), self.chunk):
                self._chunk(pixels[start : start + self.chunk], out[start : start + self.chunk])
        return out

    def _plane(self, p: torch.Tensor, table: str) -> torch.Tensor:
        """Level-shifted integer planes (m, H, W) -> decoded 0..255 (m, H, W)."""
        m, h, w = p.shape
        q, inv8q = self._tables[table]
        rows = torch.mm(p.reshape(-1, 8), self._fdct_rows).add_(0.5).floor_()
        coef = torch.matmul(self._fdct_cols, rows.view(m * h // 8, 8, w)).add_(0.5).floor_()
        deq = torch.abs(coef).mul_(inv8q).add_(0.5 + 2**-12).floor_().mul_(q).copysign_(coef)
        cols = torch.matmul(self._idct_cols, deq).add_(0.5).floor_()
        out = torch.mm(cols.view(-1, 8), self._idct_rows).add_(128.5).floor_()
        return out.clamp_(0, 255).view(m, h, w)

    def _chunk(self, pixels: np.ndarray, out: np.ndarray) -> None:
        n = pixels.shape[0]
        if n == 0:
            return
        x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.dtype).view(-1, 3)
        ycc = torch.mm(self._rgb_ycc, x.t()).add_(self._ycc_bias).floor_().view(3, n, 96, 96)
        chroma = torch.nn.functional.avg_pool2d(ycc[1:].reshape(2 * n, 1, 96, 96), 2)
        chroma = chroma.view(2 * n, 48, 48).add_(self._down_bias).floor_()
        luma = self._plane(ycc[0], "luma")
        chroma = self._plane(chroma, "chroma")
        h = torch.mm(chroma.view(-1, 48), self._up_cols).view(2 * n, 48, 96)
        padded = torch.cat([h[:, :1], h, h[:, -1:]], 1)
        h3 = h * 3
        up = torch.empty(2 * n, 48, 2, 96, dtype=self.dtype)
        torch.add(h3, padded[:, :-2], out=up[:, :, 0])
        torch.add(h3, padded[:, 2:], out=up[:, :, 1])
        up = up.view(2, n, 96, 96).add_(self._up_bias).mul_(1 / 16).floor_()
        cb, cr = up[0], up[1]
        rgb = torch.empty(n, 96, 96, 3, dtype=self.dtype)
        torch.add(luma, cr.mul(self._cr_r).add_(0.5).floor_(), out=rgb[..., 0])
        green = torch.add(cr.mul(self._cr_g).add_(0.5), cb, alpha=self._cb_g).floor_()
        torch.add(luma, green, out=rgb[..., 1])
        torch.add(luma, cb.mul_(self._cb_b).add_(0.5).floor_(), out=rgb[..., 2])
        torch.from_numpy(out).copy_(rgb.clamp_(0, 255))


def closeness(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean / max |a - b| and the fractions of values identical and within 1 grey level."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {
        "mean": float(d.mean()),
        "max": float(d.max()),
        "identical": float((d == 0).mean()),
        "within1": float((d <= 1).mean()),
    }


def timed(fn: Callable[[], object], n: int, repeats: int) -> tuple[float, float]:
    """(best, median) patches per second over ``repeats`` runs after one warm-up."""
    fn()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=512, help="patches per timed batch")
    parser.add_argument("--threads", type=int, action="append", help="default: 1 and 2")
    parser.add_argument("--model", type=Path, default=bundled_model_dir())
    args = parser.parse_args(argv)
    files = sorted((ROOT / "tests" / "data" / "kaggle").glob("*.tif"))
    pixels = np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
    reference = InputCodec(quality=75)
    expected = reference.apply(pixels)
    codecs = {
        "tensor float32": TensorJpeg(75, torch.float32),
        "tensor float64": TensorJpeg(75, torch.float64),
    }
    print(f"closeness to OpenCV on {len(pixels)} fixture patches:")
    coded = {}
    for name, codec in codecs.items():
        coded[name] = codec.apply(pixels)
        c = closeness(coded[name], expected)
        print(
            f"  {name:<16} mean |d| {c['mean']:.2e}  max {c['max']:.0f}  identical "
            f"{c['identical']:.6f}  within 1 {c['within1']:.6f}"
        )
    batch = np.concatenate([pixels] * (args.n // len(pixels) + 1))[: args.n]
    before = torch.get_num_threads()
    try:
        for threads in args.threads or [1, 2]:
            torch.set_num_threads(threads)
            runs = {"OpenCV (libjpeg-turbo)": reference, **codecs}
            for name, codec in runs.items():
                best, median = timed(lambda c=codec: c.apply(batch), args.n, args.repeats)
                print(
                    f"{threads} thread(s) {name:<24} best {best:8,.0f}/s   median {median:8,.0f}/s"
                )
    finally:
        torch.set_num_threads(before)
    for precision in ("int8", "float32"):  # int8: what the app scores with, when shipped
        clf = load_model(args.model, device="cpu", precision=precision)
        clf.codec = None  # feed the already-coded patches
        p_ref = clf.predict(expected).p
        for name in codecs:
            p = clf.predict(coded[name]).p
            dp = np.abs(p - p_ref)
            changed = int(((p >= 0.5) != (p_ref >= 0.5)).sum())
            print(
                f"P(tumour) ({clf.precision}), {name} vs OpenCV: mean |dP| {dp.mean():.2e}  "
                f"max {dp.max():.2e}  calls changed {changed}/{len(p)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
