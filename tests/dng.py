"""A minimal but real DNG writer, for the RAW tests: a Bayer (RGGB) mosaic of a picture, 16-bit
uncompressed in a SubIFD, an optional JPEG preview in IFD0, the camera in IFD0 and the date in the
Exif IFD, laid out as Adobe's DNG 1.4 specification asks. LibRaw decodes it like a camera's file.
Written here (tifffile writes no CFA DNG) so that no binary RAW is committed to the repository.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZE = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}
WHITE_LEVEL = 4095  # 12-bit samples, as most cameras write
# XYZ (D65) -> linear sRGB: the "camera" of these files sees linear sRGB, so this is its ColorMatrix1.
XYZ_TO_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))


@dataclass(frozen=True)
class Entry:
    tag: int
    kind: int
    values: tuple | bytes | str

    def payload(self) -> tuple[int, bytes]:
        """(count, the value bytes) in little-endian."""
        if self.kind == ASCII:
            data = str(self.values).encode("ascii") + b"\0"
            return len(data), data
        if self.kind == BYTE and isinstance(self.values, bytes):
            return len(self.values), self.values
        if self.kind in (RATIONAL, SRATIONAL):
            code = "<II" if self.kind == RATIONAL else "<ii"
            data = b"".join(struct.pack(code, round(v * 10000), 10000) for v in self.values)
            return len(self.values), data
        code = {BYTE: "<B", SHORT: "<H", LONG: "<I"}[self.kind]
        return len(self.values), b"".join(struct.pack(code, v) for v in self.values)


def _ifd(entries: list[Entry], at: int) -> bytes:
    """One IFD placed at offset `at`, its long values right after it; no next IFD."""
    entries = sorted(entries, key=lambda e: e.tag)
    table_size = 2 + 12 * len(entries) + 4
    table, extra = [struct.pack("<H", len(entries))], bytearray()
    for entry in entries:
        count, data = entry.payload()
        if len(data) <= 4:
            field = data.ljust(4, b"\0")
        else:
            field = struct.pack("<I", at + table_size + len(extra))
            extra += data + (b"\0" if len(data) % 2 else b"")
        table.append(struct.pack("<HHI", entry.tag, entry.kind, count) + field)
    table.append(struct.pack("<I", 0))
    return b"".join(table) + bytes(extra)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def bayer_mosaic(picture: Image.Image) -> np.ndarray:
    """RGGB mosaic of the picture's linear light, 12-bit values in uint16 (even size)."""
    rgb = np.asarray(picture.convert("RGB"))
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    linear = np.rint(srgb_to_linear(rgb[:height, :width]) * WHITE_LEVEL).astype(np.uint16)
    mosaic = np.empty((height, width), np.uint16)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]  # R
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]  # G
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]  # G
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]  # B
    return mosaic


def dng_bytes(
    picture: Image.Image,
    *,
    make: str = "Testcam",
    model: str = "Testcam DNG-1",
    taken: str = "2021:06:05 14:30:00",
    orientation: int = 1,
    preview_size: tuple[int, int] | None = None,
    preview: Image.Image | None = None,
) -> bytes:
    """A DNG of `picture` (its size rounded down to even). `preview_size`: a JPEG preview that big in
    IFD0 (the camera's rendering, here the picture itself resized), else a 64-pixel one; `preview`:
    that image as the preview instead (a test can then tell which of the two was decoded)."""
    mosaic = bayer_mosaic(picture)
    height, width = mosaic.shape
    if preview is None:
        preview = picture.convert("RGB").resize(preview_size or (64, max(1, 64 * height // width)))
    jpeg = io.BytesIO()
    preview.save(jpeg, "JPEG", quality=92)
    preview_data, raw_data = jpeg.getvalue(), mosaic.astype("<u2").tobytes()

    # Layout: header, preview JPEG, raw samples, Exif IFD, raw SubIFD, IFD0.
    preview_at = 8
    raw_at = preview_at + len(preview_data) + len(preview_data) % 2
    exif_at = raw_at + len(raw_data)
    exif = _ifd([Entry(0x9003, ASCII, taken), Entry(0x9000, BYTE, b"0230")], exif_at)
    sub_at = exif_at + len(exif) + len(exif) % 2
    sub = _ifd(
        [
            Entry(254, LONG, (0,)),
            Entry(256, LONG, (width,)),
            Entry(257, LONG, (height,)),
            Entry(258, SHORT, (16,)),
            Entry(259, SHORT, (1,)),
            Entry(262, SHORT, (32803,)),  # CFA
            Entry(273, LONG, (raw_at,)),
            Entry(277, SHORT, (1,)),
            Entry(278, LONG, (height,)),
            Entry(279, LONG, (len(raw_data),)),
            Entry(284, SHORT, (1,)),
            Entry(33421, SHORT, (2, 2)),  # CFARepeatPatternDim
            Entry(33422, BYTE, bytes((0, 1, 1, 2))),  # CFAPattern: RGGB
            Entry(50714, LONG, (0,)),  # BlackLevel
            Entry(50717, LONG, (WHITE_LEVEL,)),  # WhiteLevel
        ],
        sub_at,
    )
    ifd0_at = sub_at + len(sub) + len(sub) % 2
    matrix = tuple(v for row in XYZ_TO_SRGB for v in row)
    ifd0 = _ifd(
        [
            Entry(254, LONG, (1,)),  # a reduced-resolution image: the preview
            Entry(256, LONG, (preview.width,)),
            Entry(257, LONG, (preview.height,)),
            Entry(258, SHORT, (8, 8, 8)),
            Entry(259, SHORT, (7,)),  # JPEG
            Entry(262, SHORT, (6,)),  # YCbCr
            Entry(271, ASCII, make),
            Entry(272, ASCII, model),
            Entry(273, LONG, (preview_at,)),
            Entry(274, SHORT, (orientation,)),
            Entry(277, SHORT, (3,)),
            Entry(278, LONG, (preview.height,)),
            Entry(279, LONG, (len(preview_data),)),
            Entry(284, SHORT, (1,)),
            Entry(306, ASCII, "2022:01:01 00:00:00"),  # DateTime (last change): not the date taken
            Entry(330, LONG, (sub_at,)),  # SubIFDs
            Entry(34665, LONG, (exif_at,)),  # Exif IFD
            Entry(50706, BYTE, bytes((1, 4, 0, 0))),  # DNGVersion
            Entry(50707, BYTE, bytes((1, 1, 0, 0))),  # DNGBackwardVersion
            Entry(50708, ASCII, f"{make} {model}"),  # UniqueCameraModel
            Entry(50721, SRATIONAL, matrix),  # ColorMatrix1
            Entry(50728, RATIONAL, (1.0, 1.0, 1.0)),  # AsShotNeutral
            Entry(50778, SHORT, (21,)),  # CalibrationIlluminant1: D65
        ],
        ifd0_at,
    )
    parts = [
        b"II*\0" + struct.pack("<I", ifd0_at),
        preview_data + b"\0" * (len(preview_data) % 2),
        raw_data,
        exif + b"\0" * (len(exif) % 2),
        sub + b"\0" * (len(sub) % 2),
        ifd0,
    ]
    return b"".join(parts)
