"""Jupyter notebooks as Jupyter writes them, for the stages' notebook tests.

``notebook`` lays a notebook out as nbformat 4 does (``json.dumps(nb, sort_keys=True,
indent=1, ensure_ascii=False)`` plus a newline: one source row per line), with what an
executed data-science notebook carries besides code: a PNG figure in an output (random
pixels, so its base64 is as dense as a real plot's), a stream output, cell ids and
widget state keyed by hex model ids in the metadata.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib


def png(seed: int, size: int = 48) -> bytes:
    """A valid ``size``x``size`` RGB PNG of random pixels."""
    rand = random.Random(seed)
    rows = b"".join(b"\x00" + rand.randbytes(size * 3) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def code_cell(source: str, *, index: int, figure: bool = False, stream: str = "") -> dict[str, object]:
    outputs: list[dict[str, object]] = []
    if stream:
        outputs.append({"name": "stdout", "output_type": "stream", "text": stream.splitlines(keepends=True)})
    if figure:
        image = base64.encodebytes(png(index)).decode("ascii")  # 76-character lines, as IPython's
        outputs.append(
            {
                "data": {"image/png": image, "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
                "metadata": {},
                "output_type": "display_data",
            }
        )
    return {
        "cell_type": "code",
        "execution_count": index,
        "id": f"{random.Random(index).getrandbits(32):08x}",
        "metadata": {},
        "outputs": outputs,
        "source": source.splitlines(keepends=True),
    }


def markdown_cell(source: str, *, index: int) -> dict[str, object]:
    return {
        "cell_type": "markdown",
        "id": f"{random.Random(1000 + index).getrandbits(32):08x}",
        "metadata": {},
        "source": source.splitlines(keepends=True),
    }


def notebook(cells: list[dict[str, object]], *, widgets: int = 3) -> bytes:
    rand = random.Random(7)
    state = {
        f"{rand.getrandbits(128):032x}": {
            "model_module": "@jupyter-widgets/base",
            "model_module_version": "1.2.0",
            "model_name": "LayoutModel",
            "state": {},
        }
        for _ in range(widgets)
    }
    document = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.12.3"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2}},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def line_of(data: bytes, needle: str) -> int:
    """The 1-based line of the notebook file that holds ``needle``, as the JSON spells it."""
    spelled = json.dumps(needle)[1:-1]
    [number] = [n for n, line in enumerate(data.decode("utf-8").splitlines(), 1) if spelled in line]
    return number
