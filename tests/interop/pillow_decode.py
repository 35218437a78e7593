"""Pillow's decoding of image files, for tests/interop/test_jpeg_matches_pillow.cpp:
    pillow_decode.py OUT FILE...
writes to OUT, for each FILE in turn, the bytes of Image.open(FILE).convert("RGB") (rows of
interleaved R, G, B), as any Pillow or torchvision user reads them."""
import sys

from interop_support import require

require("PIL")
from PIL import Image, features  # noqa: E402

out, files = sys.argv[1], sys.argv[2:]
with open(out, "wb") as f:
    for name in files:
        with Image.open(name) as image:
            f.write(image.convert("RGB").tobytes())
print(f"Pillow {Image.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}) decoded {len(files)} files")
