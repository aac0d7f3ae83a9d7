"""The API's JSON renderer: orjson, byte-for-byte the output of DRF's JSONRenderer.

DRF renders compact, UTF-8 (not ASCII-escaped) JSON with `\\u2028`/`\\u2029` escaped; orjson
writes the same bytes for strings, integers, booleans, null, lists and dicts, several times
faster. Every other type (date-times, dates, UUIDs, decimals, lazy strings, ...) is handed to
DRF's own encoder, so it is written exactly as before. Whatever orjson refuses (a non-string
key, an integer over 64 bits, ...) and any indented rendering go through DRF's renderer.
Floats are not in any of the core's own responses; the one view that relays another
service's JSON (page statistics) keeps DRF's renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_encode_other = JSONEncoder().default
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class ORJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_encode_other, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        return rendered.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
