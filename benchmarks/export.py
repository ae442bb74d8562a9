"""ONNX painters on the CPU: onnxruntime against PyTorch, images/s, same inputs, one run.

Each model is a family at its default size with fresh weights (speed does not depend on
training), exported with ``huashi.tools.export``; both engines run it in fp32 on the same batch with
the same thread count, after a warm-up. The largest difference between their images is shown.

    python benchmarks/export.py --resolution 32 --batch 64 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import huashi  # noqa: F401  (sets the passive OpenMP wait before torch loads)

# isort: split
import torch

from huashi.families import DataInfo, get_family
from huashi.tools.export import export_family, export_graph


def rate(fn, batch: int, seconds: float) -> float:
    fn()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    r = args.resolution
    cases = {
        "dcgan": DataInfo(3, r),
        "kl-vae": DataInfo(3, r),
        "pix2pix": DataInfo(3, r, has_targets=True, target_channels=3),
    }
    print(
        f"{os.cpu_count()} cores, {args.threads} threads, load {os.getloadavg()[0]:.2f}, "
        f"{r} px, batch {args.batch}, torch {torch.__version__}, onnxruntime {ort.__version__}"
    )
    print("| painter | PyTorch images/s | onnxruntime images/s | ratio | max abs diff |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, info in cases.items():
            family_class = get_family(name)
            torch.manual_seed(0)
            family = family_class(family_class.make_config({}), info, torch.device("cpu"))
            family.train(False)
            path = Path(folder) / f"{name}.onnx"
            export_family(family, path, check=False)
            graph = export_graph(family)
            graph.module.eval()
            inputs = {
                k: v[:1].repeat(args.batch, *[1] * (v.dim() - 1))
                + 0.1 * torch.randn(args.batch, *v.shape[1:])
                if v.is_floating_point()
                else v[:1].repeat(args.batch)
                for k, v in graph.inputs.items()
            }
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {k: v.numpy() for k, v in inputs.items()}
            values = tuple(inputs.values())

            def torch_run(module=graph.module, values=values):
                with torch.inference_mode():
                    return module(*values)

            def ort_run(session=session, feed=feed):
                return session.run(["image"], feed)[0]

            diff = float((torch.from_numpy(ort_run()) - torch_run()).abs().max())
            pt, ox = (
                rate(torch_run, args.batch, args.seconds),
                rate(ort_run, args.batch, args.seconds),
            )
            label = {"kl-vae": "kl-vae decoder"}.get(name, name)
            print(f"| {label} | {pt:.0f} | {ox:.0f} | {ox / pt:.2f}x | {diff:.1e} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
