"""Own-data throughput: text embeddings per second, and opening a 100,000-image folder (time and memory).

* Texts: ``--texts`` distinct generated sentences embedded with all-MiniLM-L6-v2 (cold cache), then read
  back from the cache (a reopened dataset).
* Images: ``--images`` 32x32 PNGs (digits scaled up, with noise, 10 class sub-folders) written to a
  temporary folder, opened with ``from_image_folder`` (features computed by worker processes), then
  re-opened (features from the cache). Peak memory of this process (VmHWM) is reset before each step;
  the decode workers' peak is measured too. Images are rendered on demand, never held in memory.

    python benchmarks/sources.py --texts 2000 --images 100000 --out benchmarks/out/sources.json
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import peak_mb, reset_peak  # noqa: E402  (the same VmHWM measurement as the scale benchmark)


def _sentences(n, seed=0):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    from make_samples import TOPICS

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        subjects, verbs, tails = TOPICS[list(TOPICS)[i % 4]]
        out.append(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(tails)} (note {i}).")
    return out


def bench_texts(n, cache):
    from activelearn.sources import _load_text_model, embed_texts

    texts = _sentences(n)
    t = time.perf_counter()
    _load_text_model()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    X = embed_texts(texts, cache_dir=cache, progress=False)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    X2 = embed_texts(texts, cache_dir=cache, progress=False)
    warm = time.perf_counter() - t
    assert np.array_equal(X, X2)
    return {"texts": n, "model_load_seconds": load_s, "embed_seconds": cold, "texts_per_second": n / cold,
            "cached_seconds": warm, "cached_texts_per_second": n / warm, "threads": os.cpu_count()}


def _write_images(root, n):
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    for c in range(10):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        k = i % len(d.target)
        img = np.kron(d.images[k] * 15, np.ones((4, 4))) + rng.normal(0, 8, (32, 32))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(
            root / str(d.target[k]) / f"{i:06d}.png", compress_level=1)


def bench_images(n, cache, workdir):
    import activelearn as al

    root = Path(workdir) / "images"
    t = time.perf_counter()
    _write_images(root, n)
    write_s = time.perf_counter() - t
    on_disk = sum(f.stat().st_size for f in root.rglob("*.png")) / 2**20

    def timed_open():
        before = reset_peak()
        t = time.perf_counter()
        ds = al.from_image_folder(root, cache_dir=cache, progress=False)
        return ds, time.perf_counter() - t, peak_mb() - before

    ds, first, first_peak = timed_open()  # features computed
    del ds
    ds, again, again_peak = timed_open()  # features from the cache
    t = time.perf_counter()
    shown = ds.render(ds.ids[12345 % len(ds)])
    render_ms = 1000 * (time.perf_counter() - t)
    assert shown["image"].startswith(b"\x89PNG")
    return {"images": n, "write_seconds": write_s, "files_mb": on_disk, "open_seconds": first,
            "open_images_per_second": n / first, "open_peak_mb_over_baseline": first_peak,
            "reopen_seconds": again, "reopen_peak_mb_over_baseline": again_peak,
            "features_mb": ds.X.nbytes / 2**20, "render_one_ms": render_ms}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--out", default="benchmarks/out/sources.json")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="al-sources-"))
    try:
        cache = work / "cache"
        res = {"cores": os.cpu_count()}
        if args.texts:
            res["texts"] = bench_texts(args.texts, cache)
        if args.images:
            res["images"] = bench_images(args.images, cache, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print("| figure | measured |\n|---|---|")
    if "texts" in res:
        t = res["texts"]
        print(f"| embed {t['texts']:,} new texts, {res['cores']} cores | {t['texts_per_second']:.0f} texts/s "
              f"({t['embed_seconds']:.1f} s; model load {t['model_load_seconds']:.1f} s) |")
        print(f"| reopen: same texts from the cache | {t['cached_texts_per_second']:,.0f} texts/s |")
    if "images" in res:
        i = res["images"]
        print(f"| open a {i['images']:,}-image folder ({i['files_mb']:.0f} MB of PNG), features computed | "
              f"{i['open_seconds']:.0f} s ({i['open_images_per_second']:.0f} img/s), peak +"
              f"{i['open_peak_mb_over_baseline']:.0f} MB |")
        print(f"| reopen it (features cached) | {i['reopen_seconds']:.1f} s, peak +"
              f"{i['reopen_peak_mb_over_baseline']:.0f} MB (features {i['features_mb']:.0f} MB) |")
        print(f"| render one item on demand | {i['render_one_ms']:.1f} ms |")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
