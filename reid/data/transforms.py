"""Image decoding and the train/eval transforms of the embedding network.

Every path into the network (training, ``reid embed``, crops from the video pipeline, ONNX) uses the same
eval preprocessing: OpenCV decode (BGR) -> resize to ``input_size`` -> RGB uint8, with the float
normalisation done on the device (or inside the ONNX graph). The resize filter is the network's own
(``ModelConfig.interpolation``): bilinear for networks trained here, bicubic through PIL for fast-reid's,
which is exactly what fast-reid's test transform does (``T.Resize(size, interpolation=3)`` on a PIL image). Keeping the bytes uint8 until the device makes
host-to-device copies four times smaller and lets DataLoader workers do the decoding.

Training augmentations are those that keep a vehicle a vehicle: a modest random resized crop (most of the
car stays in view), horizontal flip (cars are roughly left-right symmetric, unlike text), a mild colour jitter
(cameras differ in white balance; strong hue shifts would change the car's colour, which identifies it), and
random erasing (occlusion by other vehicles and poles).
"""

from __future__ import annotations

from collections.abc import Sequence

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


def resize_to_rgb(image_bgr: np.ndarray, size: Sequence[int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize a BGR uint8 image to ``size`` = (h, w) and return it as contiguous RGB uint8 (h, w, 3).

    ``interpolation`` is ``"bilinear"`` (OpenCV; area filter when shrinking by more than 2x) or ``"bicubic"``
    (PIL's antialiased bicubic filter, the one fast-reid's networks were tested with).
    """
    import cv2

    h, w = int(size[0]), int(size[1])
    if image_bgr.ndim == 2:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    elif image_bgr.shape[2] == 4:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR)
    if image_bgr.dtype != np.uint8:
        image_bgr = np.clip(image_bgr, 0, 255).astype(np.uint8)
    if interpolation == "bicubic":
        from PIL import Image

        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        if rgb.shape[0] == h and rgb.shape[1] == w:
            return rgb
        return np.array(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))
    if interpolation != "bilinear":
        raise ValueError(f"unknown interpolation {interpolation!r}")
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
    # Scaled in float64 and rounded once, as in reid.models.export.WithPreprocessing (same inputs everywhere).
    m = (torch.tensor(mean, dtype=torch.float64) * 255.0).to(x.device, x.dtype).view(1, 3, 1, 1)
    s = (torch.tensor(std, dtype=torch.float64) * 255.0).to(x.device, x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


class EvalTransform:
    """Decoded BGR image -> resized RGB uint8 tensor (H, W, 3); normalisation happens later on the device."""

    def __init__(self, input_size: Sequence[int], interpolation: str = "bilinear") -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.interpolation = interpolation

    def __call__(self, image_bgr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(resize_to_rgb(image_bgr, self.input_size, self.interpolation))


class TrainTransform:
    """Decoded BGR image -> augmented RGB uint8 tensor (H, W, 3), with the augmentations described above.

    Written with OpenCV and NumPy on uint8 images (about a millisecond per image) rather than torchvision's
    tensor ops, which are several times slower per image inside DataLoader workers. Randomness comes from
    ``torch``'s generator, which DataLoader seeds per worker and epoch, so runs are reproducible and resumable.
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
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.scale, self.ratio = scale, ratio
        self.flip, self.jitter, self.erasing = flip, jitter, erasing

    @staticmethod
    def _uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand(()))

    def _crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """A random box covering ``scale`` of the area with aspect ``ratio`` (as RandomResizedCrop)."""
        import math

        area = h * w
        for _ in range(10):
            target = area * self._uniform(*self.scale)
            aspect = math.exp(self._uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                y = int(torch.randint(0, h - ch + 1, ()))
                x = int(torch.randint(0, w - cw + 1, ()))
                return y, x, ch, cw
        return 0, 0, h, w

    def __call__(self, image_bgr: np.ndarray) -> torch.Tensor:
        import cv2

        h, w = image_bgr.shape[:2]
        y, x, ch, cw = self._crop_box(h, w)
        out_h, out_w = self.input_size
        crop = image_bgr[y : y + ch, x : x + cw]
        shrink = ch > 2 * out_h or cw > 2 * out_w
        img = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        img = img[:, :, ::-1]  # BGR -> RGB
        if self.flip > 0 and float(torch.rand(())) < self.flip:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if self.jitter > 0:
            img = self._color_jitter(img)
        if self.erasing > 0 and float(torch.rand(())) < self.erasing:
            self._erase(img)
        return torch.from_numpy(img)

    def _color_jitter(self, img: np.ndarray) -> np.ndarray:
        """Brightness, contrast and saturation each scaled by a factor in [1 - j, 1 + j]; hue is kept."""
        j = self.jitter
        f = img.astype(np.float32)
        f *= self._uniform(1 - j, 1 + j)  # brightness
        gray = f @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        c = self._uniform(1 - j, 1 + j)
        f = (f - gray.mean()) * c + gray.mean()  # contrast
        s = self._uniform(1 - j, 1 + j)
        gray = (f @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
        f = (f - gray) * s + gray  # saturation
        return np.clip(f, 0, 255).astype(np.uint8)

    def _erase(self, img: np.ndarray) -> None:
        """Random erasing (Zhong et al. 2020): one rectangle of 2-20 % of the image filled with noise."""
        import math

        h, w = img.shape[:2]
        for _ in range(10):
            target = h * w * self._uniform(0.02, 0.2)
            aspect = math.exp(self._uniform(math.log(0.3), math.log(3.3)))
            eh, ew = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < eh < h and 0 < ew < w:
                y = int(torch.randint(0, h - eh + 1, ()))
                x = int(torch.randint(0, w - ew + 1, ()))
                noise = torch.randint(0, 256, (eh, ew, 3), dtype=torch.uint8).numpy()
                img[y : y + eh, x : x + ew] = noise
                return
