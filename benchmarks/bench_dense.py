"""Object detection and SAM segmentation: training samples per second and one-image predict latency.

    python benchmarks/bench_dense.py [--images 48] [--steps 12]

Generated images of squares and discs on noise (tests/shape_images.py), random-initialised networks (no
pretrained detection or SAM weights are needed). On the CPU, the small sizes: a small-backbone FCOS at 64 px, the
default detector (SSDlite320-MobileNetV3, what yolov3_mobilenetv2 maps to) at 320 px, and a tiny SAM at 128 px.
With a GPU, the real sizes too: Faster R-CNN ResNet-50-FPN at 640 px and SAM ViT-B at 1024 px, in 16-mixed
precision. Training samples/s is fit()'s own measure (validation excluded); latency is predict() of one image path,
median of 20 after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from common import write_results  # noqa: E402
from shape_images import shape_images  # noqa: E402

from automodal import MultiModalPredictor  # noqa: E402


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


def sam_dir(root: str, image_size: int, vit_b: bool) -> str:
    from transformers import SamConfig, SamModel

    if vit_b:
        config = SamConfig()            # ViT-B at 1024 px (transformers' default SamConfig)
    else:
        config = SamConfig(vision_config={"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                                          "image_size": image_size, "patch_size": 16, "output_channels": 32,
                                          "mlp_dim": 128, "window_size": 4, "global_attn_indexes": [1]},
                           prompt_encoder_config={"hidden_size": 32, "image_size": image_size, "patch_size": 16},
                           mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_hidden_layers": 2,
                                                "num_attention_heads": 2, "iou_head_hidden_dim": 32})
    SamModel(config).save_pretrained(root)
    return root


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
                       dict(common, **{"model.mmdet_image.checkpoint_name": "ssdlite320_mobilenet_v3_large"}),
                       "rois", root))
    tiny = shape_images(os.path.join(root, "128"), args.images + 8, size=128)
    results.append(run("sam_tiny_128px", "semantic_segmentation", tiny[:args.images], tiny[args.images:],
                       dict(common, **{"model.sam.checkpoint_name": sam_dir(os.path.join(root, "sam_tiny"), 128,
                                                                            False)}), "binary_mask", root))
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
                           huge[args.images:], dict(real, **{"model.sam.checkpoint_name": sam_dir(
                               os.path.join(root, "sam_vit_b"), 1024, True)}), "binary_mask", root))
    write_results(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dense.json"),
                  {"device": torch.cuda.get_device_name(0) if gpu else "cpu", "threads": torch.get_num_threads(),
                   "results": results})


if __name__ == "__main__":
    main()
