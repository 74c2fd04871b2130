"""Camera frames with a QR code in them, rendered with segno: small, tilted, blurred, on a bright phone screen."""

from __future__ import annotations

import cv2
import numpy as np
import segno


def qr_image(text: str, module_px: float) -> np.ndarray:
    """The QR code as a grey image, ``module_px`` pixels a module, with the standard 4-module quiet zone."""
    matrix = np.array(segno.make_qr(text, error="m").matrix, dtype=np.uint8)
    matrix = ((1 - np.pad(matrix, 4)) * 255).astype(np.uint8)
    if float(module_px).is_integer():
        return cv2.resize(matrix, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    big = cv2.resize(matrix, None, fx=10, fy=10, interpolation=cv2.INTER_NEAREST)  # then down: soft module edges
    return cv2.resize(big, None, fx=module_px / 10, fy=module_px / 10, interpolation=cv2.INTER_AREA)


def phone_screen(code: np.ndarray, glare: float = 0.0) -> np.ndarray:
    """The code on a lit phone screen: black bezel, bright screen, washed-out darks when ``glare`` > 0."""
    h, w = code.shape
    screen = cv2.cvtColor(code, cv2.COLOR_GRAY2BGR).astype(np.float32)
    screen = screen * (1 - glare) + 255 * glare  # overexposed: the black modules turn grey
    screen[..., 0] *= 0.97  # a slightly blue-white screen
    phone = np.full((int(h * 1.9), int(w * 1.15), 3), 25, np.float32)
    y, x = (phone.shape[0] - h) // 2, (phone.shape[1] - w) // 2
    phone[y : y + h, x : x + w] = screen
    return np.clip(phone, 0, 255).astype(np.uint8)


def place(
    background: np.ndarray, item: np.ndarray, centre: tuple[int, int], angle: float = 0.0, tilt: float = 0.0
) -> np.ndarray:
    """``item`` pasted on ``background`` at ``centre``, rotated ``angle`` degrees and tilted away by ``tilt``
    (0-0.4: one side shortened by that fraction, as a phone held at an angle)."""
    out = background.copy()
    h, w = item.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src.copy()
    dst[1, 1] += tilt * h / 2
    dst[2, 1] -= tilt * h / 2
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    dst = cv2.transform(dst[None], rot)[0]
    dst += np.float32([centre[0] - w / 2, centre[1] - h / 2])
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    size = (background.shape[1], background.shape[0])
    item3 = item if item.ndim == 3 else cv2.cvtColor(item, cv2.COLOR_GRAY2BGR)
    warped = cv2.warpPerspective(item3, matrix, size)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, size)
    out[mask > 0] = warped[mask > 0]
    return out


def scene(size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A plain gate background: a grey wall and a darker floor, with sensor noise."""
    w, h = size
    img = np.full((h, w, 3), 120, np.uint8)
    img[int(h * 0.7) :] = 80
    rng = np.random.default_rng(3)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def frame_with_pass(text: str, kind: str, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """One of the shown-to-the-camera variants the gate must read: plain, small, tilted, blurred, bright_phone."""
    bg = scene(size)
    centre = (size[0] // 2, size[1] // 2)
    if kind == "plain":
        return place(bg, phone_screen(qr_image(text, 3)), centre)
    if kind == "small":  # 2.75 px a module (a version 10 code 180 px wide): OpenCV reads every one of 20 random
        # passes at this size, about half at 2.5 px, none at 2 px
        return place(bg, phone_screen(qr_image(text, 2.75)), centre)
    if kind == "tilted":
        return place(bg, phone_screen(qr_image(text, 3)), centre, angle=20, tilt=0.25)
    if kind == "blurred":  # out of focus (sigma 1.2 px); at 3 px a module a blur like this fails one frame in four
        return cv2.GaussianBlur(place(bg, phone_screen(qr_image(text, 4)), centre), (5, 5), 1.2)
    if kind == "bright_phone":
        return place(bg, phone_screen(qr_image(text, 3), glare=0.45), centre, angle=-8)
    raise ValueError(f"unknown kind {kind!r}")


KINDS = ("plain", "small", "tilted", "blurred", "bright_phone")
