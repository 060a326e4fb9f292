"""The motion detector's background model: one Gaussian per pixel, learned slowly, corrected in place.

Each pixel has a colour mean and one variance, the model MOG2 (Zivkovic 2004, ``cv2.BackgroundSubtractorMOG2``)
keeps for its main mode, with MOG2's numbers: a pixel is foreground when its squared colour distance to the mean
exceeds ``var_threshold`` times the variance; it updates mean and variance at ``learning_rate`` when within 9
times the variance; the variance stays within [4, 75] and starts at 15; MOG2's shadow test drops a darker copy
of the background from the foreground. A pixel that has been foreground for more than ``static_frames`` frames in
a row is made background at once (a parked vehicle, or the road revealed where one stood at the start).

Why not MOG2 itself: with the fixed slow learning rate the detector needs, MOG2 is in effect this one Gaussian
per pixel, yet it can only be corrected by re-initialising the whole model from an image (``getBackgroundImage``,
then ``apply(image, learningRate=1)``): two extra full passes whenever one blob had to be absorbed, which on busy
footage was nearly every frame, and each reset threw away every learned variance. Here a correction writes the
pixels concerned and nothing else, and a frame costs a few vectorised passes, cheaper than MOG2's five modes
(both on one thread: Ultralytics, imported for the trackers, turns OpenCV's own threads off).
"""

from __future__ import annotations

import numpy as np

VAR_INIT, VAR_MIN, VAR_MAX = 15.0, 4.0, 75.0  # MOG2's defaults, in squared 8-bit colour units
FIT_THRESHOLD = 9.0  # MOG2's varThresholdGen: a pixel this close to the mean updates it
SHADOW_TAU = 0.5  # MOG2's shadow threshold: a shadow keeps at least half the background's brightness
_ONES_1x3 = np.ones((1, 3), np.float32)  # cv2.transform with it sums the three channels


class GaussianBackground:
    """The background of one fixed camera, started from ``image`` (H, W, 3; e.g. the median of a few frames)."""

    def __init__(
        self,
        image: np.ndarray,
        var_threshold: float = 24.0,
        learning_rate: float = 0.002,
        static_frames: int = 30,
    ) -> None:
        h, w = image.shape[:2]
        self.mean = np.array(image, np.float32)  # (H, W, 3) background colour
        self.var = np.full((h, w), VAR_INIT, np.float32)  # variance of the squared colour distance
        self.age = np.zeros((h, w), np.uint16)  # frames each pixel has been foreground in a row
        self.var_threshold = var_threshold
        self.learning_rate = learning_rate
        self.static_frames = static_frames

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    @property
    def image(self) -> np.ndarray:
        """The background as a uint8 BGR image."""
        return np.clip(np.rint(self.mean), 0, 255).astype(np.uint8)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The foreground mask of ``frame`` (uint8, 255 = foreground, shadows excluded); then learn from the
        frame and make pixels foreground for more than ``static_frames`` frames background."""
        import cv2

        mean, var = self.mean, self.var
        diff = cv2.subtract(frame, mean, dtype=cv2.CV_32F)
        dist2 = cv2.transform(cv2.multiply(diff, diff), _ONES_1x3)
        ratio = cv2.divide(dist2, var)  # the variance is at least VAR_MIN
        mask = cv2.compare(ratio, self.var_threshold, cv2.CMP_GT)
        fits = cv2.compare(ratio, FIT_THRESHOLD, cv2.CMP_LT)
        cv2.accumulateWeighted(frame, mean, self.learning_rate, mask=fits)
        cv2.accumulateWeighted(dist2, var, self.learning_rate, mask=fits)
        np.clip(var, VAR_MIN, VAR_MAX, out=var)
        self._drop_shadows(frame, mask)
        self._absorb_static(frame, mask)
        return mask

    def set_background(self, frame: np.ndarray, where: np.ndarray, corner: tuple[int, int] = (0, 0)) -> None:
        """Make ``frame`` the background where ``where`` (a uint8 mask of the region whose top-left corner is
        ``corner`` = (x, y)) is set: a fresh model there, as MOG2 starts a new mode (variance back to its
        initial value, age zero)."""
        import cv2

        x, y = corner
        h, w = where.shape[:2]
        region = np.s_[y : y + h, x : x + w]
        cv2.accumulateWeighted(frame[region], self.mean[region], 1.0, mask=where)
        np.putmask(self.var[region], where, VAR_INIT)
        np.putmask(self.age[region], where, 0)

    def _drop_shadows(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """MOG2's shadow test on the foreground pixels: the frame is the background times a in [tau, 1], within
        the variance threshold scaled by a squared."""
        import cv2

        points = cv2.findNonZero(mask)  # far faster than np.nonzero on a sparse mask
        if points is None:
            return
        points = points.reshape(-1, 2)  # (N, 1, 2) in OpenCV 4, (N, 2) in 5
        idx = points[:, 1].astype(np.intp) * mask.shape[1] + points[:, 0]
        f = frame.reshape(-1, 3).take(idx, axis=0).astype(np.float32)
        m = self.mean.reshape(-1, 3).take(idx, axis=0)
        f0, f1, f2, m0, m1, m2 = f[:, 0], f[:, 1], f[:, 2], m[:, 0], m[:, 1], m[:, 2]
        norm = m0 * m0 + m1 * m1 + m2 * m2
        a = (m0 * f0 + m1 * f1 + m2 * f2) / np.maximum(norm, 1e-6)
        d0, d1, d2 = a * m0 - f0, a * m1 - f1, a * m2 - f2
        shadow = (a >= SHADOW_TAU) & (a <= 1.0) & (norm > 0)
        shadow &= d0 * d0 + d1 * d1 + d2 * d2 < self.var_threshold * self.var.reshape(-1).take(idx) * a * a
        mask.reshape(-1)[idx[shadow]] = 0

    def _absorb_static(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Count how long each pixel has been foreground; make the long-static ones background."""
        import cv2

        age = np.zeros_like(self.age)
        cv2.add(self.age, 1, dst=age, mask=mask)  # +1 where foreground, 0 elsewhere
        self.age = age
        static = cv2.compare(age, self.static_frames, cv2.CMP_GT)
        x, y, w, h = cv2.boundingRect(static)
        if w and h:
            self.set_background(frame, static[y : y + h, x : x + w], (x, y))
