"""What vhtwin agrees to read from a Zarr store: numbers, strings and codecs that only transform bytes.

A Zarr array names its data type and codecs in its metadata, and a reader builds the codecs by name. Some codecs
that a reader may have installed turn bytes into Python objects (``numcodecs.pickle``, ``msgpack2``, ``json2``,
``vlen-array``, ``categorize``): opening such an array from a store one did not write can run code. vhtwin reads
only the codecs listed here and refuses a store that names any other, before zarr builds a single codec.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError

#: Codecs that map bytes to bytes or arrays of numbers/strings (Zarr v3 names, and numcodecs' registered names).
SAFE_CODECS = frozenset({
    "bytes", "transpose", "blosc", "zstd", "gzip", "crc32c", "sharding_indexed", "vlen-utf8", "vlen-bytes",
    *(f"numcodecs.{name}" for name in (
        "blosc", "zstd", "zlib", "gzip", "bz2", "lzma", "lz4", "delta", "fixedscaleoffset", "quantize", "bitround",
        "shuffle", "crc32", "crc32c", "adler32", "fletcher32", "jenkins_lookup3", "packbits", "astype",
    )),
})


def check_codecs(path: Path) -> None:
    """Refuse the store at ``path`` if any array in it names a codec outside :data:`SAFE_CODECS`.

    Reads only the metadata documents (JSON); hidden folders (a store's own temporary siblings) are not looked into.

    Raises
    ------
    InputError
        Naming the array, the codec and what is allowed.
    """
    path = Path(path)
    for meta in sorted(path.rglob("zarr.json")):
        if any(part.startswith(".") for part in meta.relative_to(path).parts):
            continue
        try:
            doc = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue  # unreadable metadata is damage, reported by whoever reads it; it names no codec to build
        if not isinstance(doc, dict) or doc.get("node_type") != "array":
            continue
        for name in _codec_names(doc.get("codecs", [])):
            if name not in SAFE_CODECS:
                array = str(meta.parent.relative_to(path)) or "(root)"
                raise InputError(
                    f"array {array!r} of store {str(path)!r} uses codec {name!r}, which vhtwin does not read: a codec "
                    f"that builds Python objects can run code; allowed are {', '.join(sorted(SAFE_CODECS))}"
                )


def _codec_names(codecs) -> list[str]:
    """Codec names, including those nested in a sharding codec's inner and index chains."""
    names = []
    for codec in codecs if isinstance(codecs, list) else [codecs]:
        if isinstance(codec, str):
            names.append(codec)
            continue
        if not isinstance(codec, dict):
            names.append(repr(codec))
            continue
        names.append(str(codec.get("name")))
        config = codec.get("configuration") or {}
        for inner in ("codecs", "index_codecs"):
            if isinstance(config, dict) and inner in config:
                names.extend(_codec_names(config[inner]))
    return names
