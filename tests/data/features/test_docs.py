"""docs/features.md shows the registry as it is in the code."""

from __future__ import annotations

from pathlib import Path

from churnml.features.catalog import FEATURES, registry_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "features.md"


def test_feature_docs_embed_the_current_registry() -> None:
    text = DOC.read_text()
    block = text.split("<!-- registry:start -->\n", 1)[1].split("\n<!-- registry:end -->", 1)[0]
    assert block == registry_markdown(), "docs/features.md is stale: paste registry_markdown() between the markers"
    assert all(f"`{f.name}`" in block for f in FEATURES)
