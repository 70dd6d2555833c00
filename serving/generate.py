"""The generate task's image work in the Serve app: latents -> one forward per generator over
every batched job -> PNG (one image, a grid, base64 PNGs for JSON) or an interpolation strip.

A replica on a GPU runs each batched forward in the precision the model was trained in
(``serving_precision``: its spec's ``train.precision``); on a CPU in fp32, as trained weights are
stored, since bf16/fp16 kernels are slower than fp32 on most CPUs."""
from __future__ import annotations

import base64
from typing import Optional

from serving.images import to_png


def encode(images, job: dict) -> dict:
    """The reply to one generate job: png/grid bytes, or base64 PNGs for json."""
    if job["format"] == "json":
        return {"seed": job["seed"], "images": [base64.b64encode(to_png(image[None])).decode() for image in images]}
    return {"png": to_png(images)}


def strip_png(images) -> bytes:
    """Images side by side in one PNG row."""
    import torch

    padded = torch.nn.functional.pad(images, (1, 1, 1, 1), value=-1)
    return to_png(torch.cat(list(padded), dim=2)[None])


def serving_precision(spec, device) -> str:
    """The precision a replica on ``device`` runs a generator trained under ``spec`` in."""
    import torch

    return spec.train.precision if torch.device(device).type == "cuda" else "fp32"


def forward_jobs(models: dict, jobs: list[dict], precisions: Optional[dict] = None) -> list[dict]:
    """One forward per generator over all jobs' latents, then split and encode per job;
    ``precisions``: public name -> fp32 | bf16 | fp16 (default fp32)."""
    import torch

    from ganforge.sampling import latents
    from ganforge.train.precision import autocast

    replies: list[Optional[dict]] = [None] * len(jobs)
    for key, generator in models.items():
        index = [i for i, job in enumerate(jobs) if job["model"] == key]
        z = torch.cat([latents(jobs[i]["n"], generator.z_dim, jobs[i]["seed"], jobs[i]["truncation"]) for i in index])
        y = torch.cat([labels(jobs[i], generator.num_classes) for i in index]) if generator.num_classes else None
        device = next(generator.parameters()).device
        with torch.no_grad(), autocast((precisions or {}).get(key, "fp32"), device):
            images = generator(z.to(device), None if y is None else y.to(device)).float().cpu()
        for i, chunk in zip(index, images.split([jobs[i]["n"] for i in index])):
            replies[i] = encode(chunk, jobs[i])
    return replies


def labels(job: dict, num_classes: int):
    """Class labels of one job: class_id for all, else cycling classes (as sampling.sample_images)."""
    import torch

    if job["class_id"] is not None:
        return torch.full((job["n"],), job["class_id"], dtype=torch.long)
    return torch.arange(job["n"]) % num_classes
