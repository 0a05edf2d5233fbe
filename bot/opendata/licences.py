"""The open licences `open_data.licence` may name (SPDX ids), as a data package states them."""

from __future__ import annotations

LICENCES: dict[str, dict[str, str]] = {
    "CC-BY-4.0": {
        "title": "Creative Commons Attribution 4.0",
        "path": "https://creativecommons.org/licenses/by/4.0/",
    },
    "CC0-1.0": {
        "title": "CC0 1.0 Universal (public domain dedication)",
        "path": "https://creativecommons.org/publicdomain/zero/1.0/",
    },
    "CC-BY-SA-4.0": {
        "title": "Creative Commons Attribution-ShareAlike 4.0",
        "path": "https://creativecommons.org/licenses/by-sa/4.0/",
    },
    "ODC-BY-1.0": {
        "title": "Open Data Commons Attribution License 1.0",
        "path": "https://opendatacommons.org/licenses/by/1-0/",
    },
    "ODbL-1.0": {
        "title": "Open Data Commons Open Database License 1.0",
        "path": "https://opendatacommons.org/licenses/odbl/1-0/",
    },
}
