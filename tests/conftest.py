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


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    """Folders of a tiny random GPT-2 and a tiny Llama (grouped-query, rotary) checkpoint, saved once."""
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    root = tmp_path_factory.mktemp("tiny")
    return {family: str(save_checkpoint(hf_model(family), tokenizer_for(family), root / family))
            for family in ("gpt2", "llama")}
