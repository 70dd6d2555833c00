"""Images in and out of the Serve app: reading an upload (raw PNG/JPEG, multipart, JSON base64),
decoding it within limits, converting its mode to the model's channels, fitting it to the model's
input size, and encoding [-1, 1] tensors as PNG.

Every problem with a client's image is an :class:`ImageProblem` carrying the HTTP status the
ingress answers with (400 unreadable, 413 too large, 415 unsupported content type, 422 a mode the
model cannot take) and one line that names the problem and the fix.

The fitting rule (documented in the API docs and on the playground): the image is scaled with
bicubic resampling so that it covers the model's input size with its aspect ratio kept, then the
centre is cropped to that size. An image of exactly the input size is used as it is.
"""
from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import io
import json
from typing import Callable, Optional

FORMATS = ("PNG", "JPEG")  # what PIL may decode here (it can read dozens; a smaller surface is safer)

# (mode the upload has, channels the model takes) -> the PIL mode to convert to (None: as it is).
# Only conversions with one obvious meaning are here: dropping alpha, repeating grey in R, G and B,
# ITU-R 601-2 luma for a 1-channel model, expanding a palette. Anything else (CMYK, 16-bit or
# float greys, Lab, HSV) needs a choice the client should make, so it is refused (422).
CONVERSIONS: dict[tuple[str, int], Optional[str]] = {
    ("RGB", 3): None, ("RGBA", 3): "RGB", ("L", 3): "RGB", ("LA", 3): "RGB", ("1", 3): "RGB",
    ("P", 3): "RGB", ("PA", 3): "RGB", ("YCbCr", 3): "RGB",
    ("L", 1): None, ("RGB", 1): "L", ("RGBA", 1): "L", ("LA", 1): "L", ("1", 1): "L", ("P", 1): "L",
    ("PA", 1): "L", ("YCbCr", 1): "L",
}


class ImageProblem(ValueError):
    """A client's image that cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


# ---------------------------------------------------------------- reading the request body
def _raw(body: bytes, content_type: str) -> tuple[bytes, dict]:
    """A raw image/png or image/jpeg body: the image itself, no fields."""
    return body, {}


FIELDS = ("model", "direction")  # what a JSON or multipart body may name beside its image


def _from_json(body: bytes, content_type: str) -> tuple[bytes, dict]:
    """{"image": base64 PNG/JPEG (a data: URL prefix is allowed), "model": ..., "direction": ...}."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise ImageProblem(400, f"body: not valid JSON ({err}); send {{\"image\": \"<base64 PNG or JPEG>\"}}") from err
    if not isinstance(document, dict) or not isinstance(document.get("image"), str):
        raise ImageProblem(422, "image: the JSON body needs an \"image\" field holding a base64 PNG or JPEG")
    unknown = sorted(set(document) - {"image", *FIELDS})
    if unknown:
        raise ImageProblem(422, f"body: unknown field(s) {unknown}; the JSON body takes \"image\", "
                                "\"model\" and \"direction\"")
    text = document["image"].split(",", 1)[1] if document["image"].startswith("data:") else document["image"]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ImageProblem(400, f"image: not valid base64 ({err})") from err
    return data, {key: document[key] for key in FIELDS if document.get(key) is not None}


def _from_multipart(body: bytes, content_type: str) -> tuple[bytes, dict]:
    """multipart/form-data: the file part named ``image`` (else the first file part), and a
    ``model`` and ``direction`` text fields. Parsed with the standard library's MIME parser (no extra dependency)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ImageProblem(400, "body: multipart/form-data without a boundary or parts; "
                                "upload the file as a form field 'image'")
    files, fields = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
        elif name:
            fields[name] = payload.decode("utf-8", "replace").strip()
    data = files.get("image", next(iter(files.values()), None))
    if data is None:
        raise ImageProblem(422, "image: the form has no file part; upload the image as the form field 'image'")
    return data, {key: fields[key] for key in FIELDS if fields.get(key)}


READERS: dict[str, Callable[[bytes, str], tuple[bytes, dict]]] = {
    "image/png": _raw, "image/jpeg": _raw, "application/octet-stream": _raw, "application/json": _from_json,
    "multipart/form-data": _from_multipart,
}


def read_upload(body: bytes, content_type: Optional[str]) -> tuple[bytes, dict]:
    """(image bytes, fields such as ``model``) from a request body of any accepted content type."""
    kind = (content_type or "").split(";")[0].strip().lower()
    reader = READERS.get(kind)
    if reader is None:
        raise ImageProblem(415, f"content-type: {kind or 'none'} is not accepted; send {', '.join(READERS)}")
    return reader(body, content_type or "")


# ---------------------------------------------------------------- decoding within limits
def decode_image(data: bytes, max_pixels: int):
    """A fully decoded PIL image from PNG/JPEG bytes; 400 when it is not one or is truncated, 413
    when its header declares more than ``max_pixels`` pixels (checked before decoding them)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageProblem(400, "image: empty; send a PNG or JPEG file")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as err:  # PIL's own guard, far above any sane limit
        raise ImageProblem(413, f"image: {err}; downscale it first") from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ImageProblem(400, "image: not a PNG or JPEG image (cannot identify it); send a PNG or JPEG file") from err
    width, height = image.size
    if width * height > max_pixels:
        raise ImageProblem(413, f"image: {width}x{height} = {width * height} pixels is over this server's limit "
                                f"of {max_pixels}; downscale it first")
    try:
        image.load()  # header-only so far: a truncated or corrupt stream fails here
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageProblem(400, f"image: the {image.format} data is truncated or corrupt ({err}); "
                                "send the whole file") from err
    return image


def to_channels(image, channels: int):
    """``image`` in the mode a model of ``channels`` channels takes (CONVERSIONS), else 422."""
    if (image.mode, channels) not in CONVERSIONS:
        wanted = "RGB" if channels == 3 else "L (greyscale)" if channels == 1 else f"{channels} channels"
        raise ImageProblem(422, f"image: mode {image.mode} cannot be converted unambiguously to the model's "
                                f"{wanted}; convert it to {wanted.split()[0]} (8 bits per channel) first")
    target = CONVERSIONS[(image.mode, channels)]
    return image if target is None else image.convert(target)


def fit(image, height: int, width: int):
    """The module docstring's rule: bicubic scale to cover (height, width), keeping the aspect
    ratio, then a centre crop. An image of exactly that size is returned as it is."""
    from PIL import Image

    if image.size == (width, height):
        return image
    factor = max(width / image.width, height / image.height)
    scaled = (max(width, round(image.width * factor)), max(height, round(image.height * factor)))
    image = image.resize(scaled, Image.Resampling.BICUBIC)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def to_tensor(image):
    """A PIL image (L or RGB) as a float32 tensor [C, H, W] in [-1, 1]."""
    import numpy as np
    import torch

    array = np.asarray(image, dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 127.5 - 1


def model_input(data: bytes, input_shape: list[int], max_pixels: int):
    """Image bytes -> the model's input tensor [C, h, w] in [-1, 1] (decode, convert, fit)."""
    channels, height, width = input_shape
    return to_tensor(fit(to_channels(decode_image(data, max_pixels), channels), height, width))


# ---------------------------------------------------------------- encoding
def to_png(images) -> bytes:
    """[-1, 1] images [B, C, H, W] -> one PNG (a near-square grid when B > 1)."""
    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    from ganforge.sampling import grid_rows

    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if len(pixels) > 1:
        pixels = make_grid(pixels, nrow=grid_rows(len(pixels)), padding=2)[None]
    array = pixels[0].permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
