"""Image decoding and the train/eval transforms of the embedding network.

Every path into the network (training, ``reid embed``, crops from the video pipeline, ONNX) uses the same
eval preprocessing: OpenCV decode (BGR) -> bilinear resize to ``input_size`` -> RGB uint8, with the float
normalisation done on the device (or inside the ONNX graph). Keeping the bytes uint8 until the device makes
host-to-device copies four times smaller and lets DataLoader workers do the decoding.

Training augmentations are those that keep a vehicle a vehicle: a modest random resized crop (most of the
car stays in view), horizontal flip (cars are roughly left-right symmetric, unlike text), a mild colour jitter
(cameras differ in white balance; strong hue shifts would change the car's colour, which identifies it), and
random erasing (occlusion by other vehicles and poles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def read_image_bgr(path: str) -> np.ndarray | None:
    """Decode an image file to BGR uint8 (H, W, 3); ``None`` when the file is missing, empty or corrupt."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or min(image.shape[:2]) < 1:
        return None
    return image


def resize_to_rgb(image_bgr: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize a BGR uint8 image to ``size`` = (h, w) bilinearly and return it as contiguous RGB uint8 (h, w, 3)."""
    import cv2

    h, w = int(size[0]), int(size[1])
    if image_bgr.ndim == 2:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    elif image_bgr.shape[2] == 4:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR)
    if image_bgr.dtype != np.uint8:
        image_bgr = np.clip(image_bgr, 0, 255).astype(np.uint8)
    if image_bgr.shape[0] != h or image_bgr.shape[1] != w:
        # INTER_AREA when shrinking a lot avoids aliasing; bilinear otherwise (both are what cv2 users expect).
        shrink = image_bgr.shape[0] > 2 * h or image_bgr.shape[1] > 2 * w
        image_bgr = cv2.resize(
            image_bgr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
    return np.ascontiguousarray(image_bgr[:, :, ::-1])


def normalize_on_device(
    batch_nhwc: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 (B, H, W, 3) RGB -> float (B, 3, H, W) normalised, in channels_last memory layout (a free permute)."""
    x = batch_nhwc.permute(0, 3, 1, 2).float()
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    return (x - m) / s


class EvalTransform:
    """Decoded BGR image -> resized RGB uint8 tensor (H, W, 3); normalisation happens later on the device."""

    def __init__(self, input_size: Sequence[int]) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def __call__(self, image_bgr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(resize_to_rgb(image_bgr, self.input_size))


class TrainTransform:
    """Decoded BGR image -> augmented RGB uint8 tensor (H, W, 3), with the augmentations described above.

    Random erasing works on the uint8 image (filling with random bytes), so batches still travel as uint8.
    """

    def __init__(
        self,
        input_size: Sequence[int],
        scale: tuple[float, float] = (0.64, 1.0),
        ratio: tuple[float, float] = (0.8, 1.25),
        flip: float = 0.5,
        jitter: float = 0.2,
        erasing: float = 0.5,
    ) -> None:
        from torchvision.transforms import v2

        self.input_size = (int(input_size[0]), int(input_size[1]))
        ops: list[Callable] = [
            v2.RandomResizedCrop(self.input_size, scale=scale, ratio=ratio, antialias=True),
        ]
        if flip > 0:
            ops.append(v2.RandomHorizontalFlip(flip))
        if jitter > 0:
            ops.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=0.0))
        if erasing > 0:
            ops.append(v2.RandomErasing(p=erasing, scale=(0.02, 0.2), value="random"))
        self.ops = v2.Compose(ops)

    def __call__(self, image_bgr: np.ndarray) -> torch.Tensor:
        # Pre-shrink big images with OpenCV first: RandomResizedCrop on a 1920px frame crop is needlessly slow.
        h, w = image_bgr.shape[:2]
        limit = 2 * max(self.input_size)
        if max(h, w) > limit:
            f = limit / max(h, w)
            image_bgr = resize_to_rgb(image_bgr, (max(1, round(h * f)), max(1, round(w * f))))[:, :, ::-1]
        rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).permute(2, 0, 1)
        out = self.ops(rgb)
        return out.permute(1, 2, 0).contiguous()
