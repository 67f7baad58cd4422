"""Object detection and SAM segmentation: training samples per second and one-image predict latency.

    python benchmarks/bench_dense.py [--images 48] [--steps 12]

Generated images of squares and discs on noise (automodal.demo_scenes), random-initialised networks (no
pretrained detection or SAM weights are needed). On the CPU, the small sizes: a small-backbone FCOS at 64 px, the
default detector (SSDlite320-MobileNetV3, what yolov3_mobilenetv2 maps to) at 320 px, and a tiny SAM (2 layers,
width 32, 8-pixel patches) at 128 px.
With a GPU, the real sizes too: Faster R-CNN ResNet-50-FPN at 640 px and SAM ViT-B at 1024 px, in 16-mixed
precision. Training samples/s is fit()'s own measure (validation excluded); latency is predict() of one image path,
median of 20 after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from common import write_results

from automodal import MultiModalPredictor
from automodal.demo_scenes import shape_images, small_sam


def latency_ms(predictor, paths: list, count: int = 20) -> float:
    predictor.predict(paths[0])
    times = []
    for i in range(count):
        start = time.perf_counter()
        predictor.predict(paths[i % len(paths)])
        times.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(times), 1)


def detector_dir(root: str, spec: dict) -> str:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "detector.json"), "w") as handle:
        json.dump(spec, handle)
    return root


def sam_vit_b(root: str) -> str:
    from transformers import SamConfig, SamModel

    SamModel(SamConfig()).save_pretrained(root)    # transformers' default SamConfig: ViT-B at 1024 px
    return root


def bare_samples_per_second(predictor, train, batch_size: int, workers: int, steps: int) -> float:
    """The same network, data loader and loss in a plain PyTorch loop (AdamW, no Lightning): what fit's training
    throughput is compared with."""
    from automodal.learners.image_tasks.running import make_loader

    learner = predictor.learner
    architecture = learner.meta["architecture"]
    net = learner.prepare_training(learner.build_net(architecture, pretrained=False), architecture).train()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    loader = make_loader(learner, learner.read(train, "train", True), learner.labels, architecture, batch_size,
                         True, workers)
    # timed as fit times its epochs: from the start of iteration, the loader's worker start-up included
    done, samples, started = 0, 0, time.perf_counter()
    while done < steps:
        for batch in loader:
            samples += len(batch["label"])
            done += 1
            optimizer.zero_grad()
            learner.loss(net, batch).backward()
            optimizer.step()
            if done >= steps:
                break
    return round(samples / (time.perf_counter() - started), 1)


def run(name: str, problem_type: str, train, test, hyperparameters: dict, label: str, root: str) -> dict:
    predictor = MultiModalPredictor(label=label, problem_type=problem_type, path=os.path.join(root, name),
                                    verbosity=0, hyperparameters=hyperparameters)
    started = time.time()
    predictor.fit(train, tuning_data=test)
    summary = predictor.fit_summary()
    result = {"name": name, "train_images": len(train), "global_step": summary["global_step"],
              "fit_seconds": round(time.time() - started, 1),
              "train_samples_per_second": summary["train_samples_per_second"],
              "predict_1_image_ms": latency_ms(predictor, test["image"].tolist()),
              "bare_loop_samples_per_second": bare_samples_per_second(
                  predictor, train, hyperparameters["env.per_gpu_batch_size"], hyperparameters["env.num_workers"],
                  summary["global_step"]),
              "precision": summary["precision"], "accelerator": summary["accelerator"]}
    print(result, flush=True)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-dense-")
    gpu = torch.cuda.is_available()
    common = {"env.num_workers": 2, "env.num_workers_evaluation": 0, "optimization.max_steps": args.steps,
              "optimization.max_epochs": 1000, "env.per_gpu_batch_size": 4, "optimization.learning_rate": 1e-3}
    if not gpu:
        common["env.num_gpus"] = 0
    results = []
    small = shape_images(os.path.join(root, "64"), args.images + 8, size=64)
    results.append(run("fcos_small_backbone_64px", "object_detection", small[:args.images], small[args.images:],
                       dict(common, **{"model.mmdet_image.checkpoint_name": detector_dir(
                           os.path.join(root, "fcos"), {"architecture": "fcos_resnet50_fpn", "min_size": 64,
                                                        "max_size": 64, "backbone_channels": [16, 32, 64]})}),
                       "rois", root))
    mid = shape_images(os.path.join(root, "320"), args.images + 8, size=320)
    results.append(run("ssdlite320_default_320px", "object_detection", mid[:args.images], mid[args.images:],
                       common, "rois", root))     # the default checkpoint: random weights offline
    tiny = shape_images(os.path.join(root, "128"), args.images + 8, size=128)
    results.append(run("sam_tiny_128px", "semantic_segmentation", tiny[:args.images], tiny[args.images:],
                       dict(common, **{"model.sam.checkpoint_name": small_sam(
                           os.path.join(root, "sam_tiny"), image_size=128, patch_size=8)}), "binary_mask", root))
    if gpu:
        real = dict(common, **{"env.precision": "16-mixed", "env.num_workers": 8})
        large = shape_images(os.path.join(root, "640"), args.images + 8, size=640)
        results.append(run("fasterrcnn_resnet50_fpn_640px_16mixed", "object_detection", large[:args.images],
                           large[args.images:], dict(real, **{
                               "model.mmdet_image.checkpoint_name": detector_dir(
                                   os.path.join(root, "frcnn"), {"architecture": "fasterrcnn_resnet50_fpn",
                                                                 "min_size": 640, "max_size": 640})}),
                           "rois", root))
        huge = shape_images(os.path.join(root, "1024"), args.images + 8, size=1024)
        results.append(run("sam_vit_b_1024px_16mixed", "semantic_segmentation", huge[:args.images],
                           huge[args.images:], dict(real, **{"model.sam.checkpoint_name": sam_vit_b(
                               os.path.join(root, "sam_vit_b"))}), "binary_mask", root))
    write_results(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dense.json"),
                  {"device": torch.cuda.get_device_name(0) if gpu else "cpu", "threads": torch.get_num_threads(),
                   "results": results})


if __name__ == "__main__":
    main()
