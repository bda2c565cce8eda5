"""`GifGenerator` writing a 500-step GIF of a 224x224 RGB input vs Pillow writing the same frames.

keras-vis's README example (activation maximization, 500 steps) spent about four minutes
writing its GIF. Here the callback gets 500 float inputs `(1, 224, 224, 3)` in [0, 255]
(smooth patterns that drift from step to step, as an optimized input does) and writes the
file in `on_end`. Against Pillow writing the same 500 frames, made beforehand, in one
`save(..., save_all=True)` call: as RGB images (Pillow then quantises each frame on its
own, as keras-vis's callback had it do) and as palette images quantised once beforehand
(only the writing is timed: the floor). Prints the times and the ratios (the callback
also rescales, captions and quantises each frame, which the floors do not).

    python benchmarks/bench_gif.py [--frames 500] [--size 224] [--rounds 1] [--skip-rgb]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image


def inputs(frames: int, size: int) -> list[np.ndarray]:
    """The optimized inputs of `frames` steps: `(1, size, size, 3)` floats in [0, 255]."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    noise = np.random.default_rng(0).random((size, size, 3))
    steps = []
    for step in range(frames):
        phase = step / frames * 2 * np.pi
        waves = [np.sin(6 * rows + phase + k) * np.cos(5 * cols - phase * k) for k in range(3)]
        image = 0.5 + 0.35 * np.stack(waves, axis=-1) + 0.15 * noise * (1 - step / frames)
        steps.append((255 * np.clip(image, 0, 1))[None].astype("float32"))
    return steps


def with_callback(steps: list[np.ndarray], path: str) -> float:
    """Seconds for `GifGenerator` to take every step and write the file."""
    from vis.callbacks import GifGenerator

    start = time.perf_counter()
    gif = GifGenerator(path)
    for i, value in enumerate(steps):
        gif.callback(i, [], 0.0, None, value)
    gif.on_end()
    return time.perf_counter() - start


def with_pillow(steps: list[np.ndarray], path: str, quantised: bool) -> float:
    """Seconds for Pillow to save the frames (RGB, or quantised to one palette beforehand) in one call."""
    frames = [Image.fromarray(value[0].astype(np.uint8)) for value in steps]
    if quantised:
        palette = frames[-1].quantize(256, method=Image.Quantize.MEDIANCUT)
        frames = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    start = time.perf_counter()
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-rgb", action="store_true", help="skip Pillow on RGB frames (90 s for 500)")
    args = parser.parse_args()
    import vis

    print(f"vis from {os.path.dirname(vis.__file__)}; {args.frames} frames of {args.size}x{args.size} RGB")
    steps = inputs(args.frames, args.size)
    names = ["GifGenerator", "Pillow, palette frames"] + ([] if args.skip_rgb else ["Pillow, RGB frames"])
    times: dict[str, list[float]] = {name: [] for name in names}
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):  # Interleaved: machine drift hits all alike.
            for name in names:
                path = os.path.join(folder, f"{len(sizes)}.gif")
                if name == "GifGenerator":
                    times[name].append(with_callback(steps, path))
                else:
                    times[name].append(with_pillow(steps, path, quantised="palette" in name))
                sizes[name] = os.path.getsize(path)
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        print(f"  {name:>22}: {value:7.2f} s (median of {args.rounds}), {sizes[name] / 1e6:.1f} MB")
    for name in names[1:]:
        print(f"GifGenerator / {name}: {median['GifGenerator'] / median[name]:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
