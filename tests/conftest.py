"""Shared fixtures: one MiniLM per test process (loading takes about a second)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def minilm():
    from models import load_model

    return load_model("minilm")


@pytest.fixture(scope="session")
def reference_bert():
    """transformers' BertModel and tokenizer from the same folder (test-only dependency)."""
    transformers = pytest.importorskip("transformers")
    from models.registry import minilm_folder

    folder = str(minilm_folder())
    model = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return model, tokenizer
