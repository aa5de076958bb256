"""The code blocks of docs/clients.md that the tests run, so the guide can't rot.

A block is taken when the line before its opening fence is `<!-- guide: NAME -->`.
"""

from __future__ import annotations

import re

from tests.utils.server import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "clients.md"
_BLOCK = re.compile(r"<!-- guide: ([\w-]+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def guide_blocks() -> dict[str, str]:
    return {name: code for name, code in _BLOCK.findall(GUIDE.read_text())}


def guide_block(name: str) -> str:
    blocks = guide_blocks()
    if name not in blocks:
        raise KeyError(f"no block `<!-- guide: {name} -->` in {GUIDE}; found {sorted(blocks)}")
    return blocks[name]
