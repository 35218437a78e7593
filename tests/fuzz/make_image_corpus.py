#!/usr/bin/env python3
"""Writes the image fuzzer's JPEG seeds and the broken files derived from them, all from
synthetic 32x32 pictures (no data set image is ever part of the corpus):

    .venv/bin/python tests/fuzz/make_image_corpus.py tests/fuzz/corpus/image

Needs Pillow (tools/make-venv.sh). rgb_32x32.png must be in the folder already; the PNG
with the oversized IDAT is made from it. The unit test DataChecks.FilesThatBrokeStbImage*
expects the errors these files give, with their sizes.
"""
import io
import struct
import sys
from pathlib import Path

from PIL import Image


def picture(kind):
    image = Image.new("RGB", (32, 32))
    px = image.load()
    for y in range(32):
        for x in range(32):
            if kind == 0:
                px[x, y] = ((7 * x + 3 * y) % 256, (5 * x * y) % 256, (255 - 8 * y) % 256)
            else:
                px[x, y] = ((x // 4 % 2) * 200 + 20, (y // 4 % 2) * 180 + 40, ((x + y) * 9) % 256)
    return image


def jpeg(image, **options):
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def segments(data):
    """(marker, offset, length) of each header segment, up to the start of scan."""
    at, found = 2, []
    while at < len(data):
        marker = data[at + 1]
        if marker == 0xDA:
            found.append((marker, at, struct.unpack(">H", data[at + 2:at + 4])[0]))
            return found
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        found.append((marker, at, length))
        at += 2 + length
    return found


def main(folder):
    folder = Path(folder)
    seed = jpeg(picture(0), quality=75)  # 4:2:0
    (folder / "synthetic_gradient_420.jpg").write_bytes(seed)
    (folder / "synthetic_stripes_444.jpg").write_bytes(jpeg(picture(1), quality=95, subsampling=0))
    header = segments(seed)
    dht = next(at for marker, at, _ in header if marker == 0xC4)
    over = bytearray(seed)
    over[dht + 5:dht + 21] = bytes([0] * 8 + [40] * 8)  # 320 codes in one table
    (folder / "jpeg_huffman_table_over_256_codes.jpg").write_bytes(over)
    past = bytearray(seed)
    length = struct.unpack(">H", seed[dht + 2:dht + 4])[0]
    past[dht + 2:dht + 4] = struct.pack(">H", length + 1)  # the segment claims a byte past its tables
    (folder / "jpeg_huffman_table_past_its_segment.jpg").write_bytes(past)
    sof = next(at for marker, at, _ in header if marker in (0xC0, 0xC2))
    (folder / "jpeg_header_extraneous_bytes_before_marker.jpg").write_bytes(seed[:sof] + b"\x00\x17\x2a" + seed[sof:])
    sos, _, sos_length = header[-1]
    entropy = bytearray(seed)
    middle = (sos + 2 + sos_length + len(seed)) // 2
    entropy[middle:middle + 4] = b"\xff\xd3\xff\xd7"  # restart markers where none belong
    (folder / "jpeg_corrupt_entropy_data.jpg").write_bytes(entropy)
    png = bytearray((folder / "rgb_32x32.png").read_bytes())
    idat = png.find(b"IDAT")
    png[idat - 4:idat] = struct.pack(">I", 0x7FFFFFF0)  # an IDAT of 2 GB in a 1 KB file
    (folder / "png_idat_longer_than_the_file.png").write_bytes(png)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/image")
