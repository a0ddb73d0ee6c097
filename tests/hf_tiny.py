"""Tiny, randomly initialised Hugging Face checkpoints of every supported family, for parity tests.

Each is built with `transformers` (a test-only dependency), given non-trivial random
weights with a fixed seed, saved with save_pretrained (safetensors) next to a small
tokenizer.json trained here with `tokenizers`, with the special tokens that family's
real tokenizer adds. Nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

VOCAB = 320          # model rows; every tokenizer below has fewer tokens
D, LAYERS, HEADS, KV_HEADS, D_FF = 64, 3, 4, 2, 160
POSITIONS = 64       # small, so truncation is cheap to reach
WINDOW = 5           # Gemma 2 and 3's sliding window: fewer keys than any test sentence has tokens

LONG = " ".join(["the cat sat on the mat and looked at the dog"] * 12)  # > 64 tokens for every tokenizer
SENTENCES = {
    "plain": "Time flies like an arrow; fruit flies like a banana.",
    "emoji_cjk": "I love 🍕 and 東京 in the spring 🌸!",
    "accents": "Naïve café, crème brûlée — isn't it?",
    "long": LONG,
}
CORPUS = list(SENTENCES.values()) + [
    "the quick brown fox jumps over the lazy dog",
    "attention is all you need, said the transformer to the recurrent network",
    "a small model with a small vocabulary reads small sentences",
]


def byte_level_bpe(specials: list[str], post: processors.PostProcessor | None) -> Tokenizer:
    """GPT-2 style: bytes first, then merges; vocabulary well below VOCAB."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = post if post is not None else processors.ByteLevel(trim_offsets=False)
    return tok


# The tiny checkpoints the parity tests build for each supported model_type: the variants that
# take a different path through our core. tests/test_families.py checks that every model_type of
# the family list (models/families.py) has its entry here, so a new family cannot go untested.
CASES: dict[str, list[dict]] = {
    "bert": [dict(tied=True)],
    "roberta": [dict(tied=True)],
    "distilbert": [dict(tied=True)],
    "gpt2": [dict(tied=True), dict(tied=False)],
    "llama": [dict(tied=True), dict(tied=False)],        # grouped-query attention
    "mistral": [dict(tied=True)],
    "qwen2": [dict(tied=False)],                         # biases on W_Q, W_K, W_V
    # Pythia's layout (parallel attention and feed-forward, a quarter of each head turned by RoPE),
    # the sequential variant with half turned, and a tied one turning every dimension.
    "gpt_neox": [dict(tied=False, parallel=True, rotary_pct=0.25),
                 dict(tied=False, parallel=False, rotary_pct=0.5),
                 dict(tied=True, parallel=True, rotary_pct=1.0)],
    # Fused qkv_proj and gate_up_proj; grouped-query attention, and a partial rotary variant.
    "phi3": [dict(tied=False, rotary_pct=1.0), dict(tied=True, rotary_pct=0.5)],
    # q/k norm per head, grouped-query attention; heads wider than D / HEADS (as Qwen3-0.6B's).
    "qwen3": [dict(tied=True, head_dim=32), dict(tied=False)],
    # Norms on the sublayers' outputs, q/k norm over the whole projection; grouped-query attention.
    "olmo2": [dict(tied=False), dict(tied=True)],
    # RMSNorm with (1 + w), token rows × √d_model, GeGLU; tied as Gemma ships, multi-query, and untied.
    "gemma": [dict(tied=True), dict(tied=False, head_dim=32)],
    # Norms before and after each sublayer, soft-capped scores and logits, query_pre_attn_scalar, sliding
    # windows of 5 keys in layers 0 and 2 (shorter than every test text); tied as Gemma 2 ships, and untied.
    "gemma2": [dict(tied=True), dict(tied=False, head_dim=32)],
    # q/k norm per head, local (sliding) and global RoPE bases, linear scaling in the global layers.
    "gemma3_text": [dict(tied=True), dict(tied=False, head_dim=32)],
    # Encoder–decoders (tests/test_seq2seq_families.py). T5: the original (ReLU, output × d_model^-0.5
    # into the tied table) and v1.1 / Flan-T5 (gated GELU, no scaling, heads wider than D / HEADS).
    "t5": [dict(tied=True), dict(tied=False, head_dim=32)],
    "bart": [dict(tied=True), dict(tied=True, scale=True)],   # token rows × √d_model in the second
    "marian": [dict(tied=True)],
}
# What each model_type's tokenizer adds to a sentence, as its real tokenizer does.
SPECIALS = {"gpt2": [], "gpt_neox": [], "olmo2": [], "llama": ["<s>"], "mistral": ["<s>"], "qwen2": ["<s>"],
            "phi3": ["<s>"], "qwen3": ["<s>"], "gemma": ["<s>"], "gemma2": ["<s>"], "gemma3_text": ["<s>"],
            "roberta": ["<s>", "</s>"], "distilbert": ["[CLS]", "[SEP]"], "bert": ["[CLS]", "[SEP]"],
            "t5": ["</s>"], "bart": ["<s>", "</s>"], "marian": ["</s>"]}


def case_id(family: str, variant: dict) -> str:
    """"gpt2-tied", "gpt_neox-untied-sequential-rotary0.5", ...: a readable test id."""
    parts = [family, "tied" if variant.get("tied", True) else "untied"]
    if variant.get("parallel") is False:
        parts.append("sequential")
    if "rotary_pct" in variant:
        parts.append(f"rotary{variant['rotary_pct']:g}")
    if "head_dim" in variant:
        parts.append(f"head_dim{variant['head_dim']}")
    if variant.get("scale"):
        parts.append("scaled")
    return "-".join(parts)


def tokenizer_for(family: str) -> Tokenizer:
    if family in ("gpt2", "gpt_neox", "olmo2"):  # no specials added to a sentence
        return byte_level_bpe(["<|endoftext|>"], None)
    # Llama-style: <s> (bos) before every sentence
    if family in ("llama", "mistral", "qwen2", "phi3", "qwen3", "gemma", "gemma2", "gemma3_text"):
        tok = byte_level_bpe(["<unk>", "<s>", "</s>"], None)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
        return tok
    if family == "roberta":  # <s> ... </s>, pad is id 1
        tok = byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>"], None)
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
        return tok
    if family in ("t5", "marian"):  # the source ends in </s>; T5: pad 0, eos 1; Marian: eos 0, pad 2
        specials = ["<pad>", "</s>", "<unk>"] if family == "t5" else ["</s>", "<unk>", "<pad>"]
        tok = byte_level_bpe(specials, None)
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
        return tok
    if family == "bart":  # <s> ... </s> as RoBERTa, pad 1, eos 2
        tok = byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>"], None)
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
        return tok
    if family in ("distilbert", "bert"):  # WordPiece with [CLS] ... [SEP]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=250, show_progress=False,
                                            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        tok.train_from_iterator(CORPUS, trainer)
        tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
        return tok
    raise ValueError(family)


def hf_model(family: str, *, tied: bool = True, seed: int = 0, parallel: bool = True, rotary_pct: float = 0.25,
             head_dim: int = D // HEADS, scale: bool = False, vocab: int = VOCAB):
    """A transformers model of the family with random weights large enough to make attention uneven.
    parallel, rotary_pct: GPT-NeoX's use_parallel_residual and share of each head turned by RoPE;
    head_dim: Qwen3's and Gemma's head width (D // HEADS, or wider); vocab: its rows (a tokenizer's size)."""
    import transformers as tf

    common = dict(vocab_size=vocab, attn_implementation="eager")
    rope = {"rope_type": "default", "rope_theta": 5000.0}
    if family == "bert":  # saved from the masked-LM model: names under "bert.", a "cls." head
        config = tf.BertConfig(hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                               intermediate_size=D_FF, max_position_embeddings=POSITIONS, **common)
        cls = tf.BertForMaskedLM
    elif family == "roberta":
        config = tf.RobertaConfig(hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                  intermediate_size=D_FF, max_position_embeddings=POSITIONS + 2,
                                  type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **common)
        cls = tf.RobertaModel
    elif family == "distilbert":
        config = tf.DistilBertConfig(dim=D, n_layers=LAYERS, n_heads=HEADS, hidden_dim=D_FF,
                                     max_position_embeddings=POSITIONS, pad_token_id=0, **common)
        cls = tf.DistilBertModel
    elif family == "gpt2":
        config = tf.GPT2Config(n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=POSITIONS,
                               bos_token_id=0, eos_token_id=0,
                               tie_word_embeddings=tied, **common)
        cls = tf.GPT2LMHeadModel
    elif family in ("llama", "mistral", "qwen2"):
        config_cls = {"llama": tf.LlamaConfig, "mistral": tf.MistralConfig, "qwen2": tf.Qwen2Config}[family]
        config = config_cls(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                            num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                            max_position_embeddings=POSITIONS, rope_parameters=rope,
                            tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, **common)
        cls = {"llama": tf.LlamaForCausalLM, "mistral": tf.MistralForCausalLM,
               "qwen2": tf.Qwen2ForCausalLM}[family]
    elif family == "gpt_neox":  # written as Pythia's config.json writes it (rotary_pct, rotary_emb_base)
        config = tf.GPTNeoXConfig(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                                  num_attention_heads=HEADS, max_position_embeddings=POSITIONS,
                                  rotary_pct=rotary_pct, rotary_emb_base=5000.0, use_parallel_residual=parallel,
                                  tie_word_embeddings=tied, bos_token_id=0, eos_token_id=0, **common)
        cls = tf.GPTNeoXForCausalLM
    elif family == "phi3":  # pad_token_id 0: Phi-3's own 32000 is past this tiny vocabulary
        rope_phi = dict(rope, partial_rotary_factor=rotary_pct)
        config = tf.Phi3Config(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                               num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                               max_position_embeddings=POSITIONS, original_max_position_embeddings=POSITIONS,
                               rope_parameters=rope_phi, tie_word_embeddings=tied, bos_token_id=1,
                               eos_token_id=2, pad_token_id=0, **common)
        cls = tf.Phi3ForCausalLM
    elif family == "qwen3":  # head_dim written out: Qwen3Config's default is 128, not D / HEADS
        config = tf.Qwen3Config(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                                num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=head_dim,
                                max_position_embeddings=POSITIONS, rope_parameters=rope,
                                tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, **common)
        cls = tf.Qwen3ForCausalLM
    elif family == "olmo2":  # pad_token_id 0 as GPT-NeoX's tokenizer, which OLMo 2's is built on, has it
        config = tf.Olmo2Config(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                                num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                                max_position_embeddings=POSITIONS, rope_parameters=rope,
                                tie_word_embeddings=tied, pad_token_id=0, bos_token_id=0, eos_token_id=0, **common)
        cls = tf.Olmo2ForCausalLM
    elif family == "gemma":  # head_dim written out (GemmaConfig's default is 256); one key/value head when tied
        config = tf.GemmaConfig(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                                num_attention_heads=HEADS, num_key_value_heads=1 if tied else KV_HEADS,
                                head_dim=head_dim, max_position_embeddings=POSITIONS, rope_parameters=rope,
                                hidden_act="gelu_pytorch_tanh", tie_word_embeddings=tied,
                                pad_token_id=0, bos_token_id=1, eos_token_id=2, **common)
        cls = tf.GemmaForCausalLM
    elif family == "gemma2":  # caps small enough to bend these random scores and logits
        config = tf.Gemma2Config(hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS,
                                 num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=head_dim,
                                 max_position_embeddings=POSITIONS, rope_parameters=rope,
                                 hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=tied,
                                 query_pre_attn_scalar=24, attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                 sliding_window=WINDOW, pad_token_id=0, bos_token_id=1, eos_token_id=2, **common)
        cls = tf.Gemma2ForCausalLM
    elif family == "gemma3_text":  # global layers: base 5000 slowed 4 times; sliding ones: base 300
        config = tf.Gemma3TextConfig(
            hidden_size=D, intermediate_size=D_FF, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            num_key_value_heads=KV_HEADS, head_dim=head_dim, max_position_embeddings=POSITIONS,
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 5000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 300.0}},
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=tied, query_pre_attn_scalar=24,
            final_logit_softcapping=3.0, sliding_window=WINDOW, pad_token_id=0, bos_token_id=1, eos_token_id=2,
            **common)
        cls = tf.Gemma3ForCausalLM
    elif family == "t5":  # few buckets and a short max distance, so test sentences reach the log-spaced and last ones
        config = tf.T5Config(d_model=D, d_kv=head_dim, d_ff=D_FF, num_layers=LAYERS, num_heads=HEADS,
                             relative_attention_num_buckets=8, relative_attention_max_distance=20,
                             feed_forward_proj="relu" if tied else "gated-gelu", tie_word_embeddings=tied,
                             pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **common)
        cls = tf.T5ForConditionalGeneration
    elif family in ("bart", "marian"):
        sizes = dict(d_model=D, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
                     decoder_attention_heads=HEADS, encoder_ffn_dim=D_FF, decoder_ffn_dim=D_FF,
                     max_position_embeddings=POSITIONS, tie_word_embeddings=tied, **common)
        if family == "bart":
            config = tf.BartConfig(scale_embedding=scale, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                   decoder_start_token_id=2, forced_eos_token_id=2, **sizes)
            cls = tf.BartForConditionalGeneration
        else:  # as the opus-mt models: swish, token rows × √d_model, the pad token never written
            config = tf.MarianConfig(scale_embedding=True, activation_function="swish", pad_token_id=2,
                                     eos_token_id=0, decoder_start_token_id=2, forced_eos_token_id=0, **sizes)
            cls = tf.MarianMTModel
    else:
        raise ValueError(family)
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied tables appear once
            if family == "marian" and "embed_positions" in name:   # the fixed sinusoids, never saved
                continue
            is_norm = "norm" in name.lower() or ".ln_" in name or name.startswith("ln_f")
            if is_norm and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif "relative_attention_bias" in name:            # T5: large enough to move the weights
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
        if hasattr(model, "final_logits_bias"):          # BART, Marian: a buffer, zeros unless set
            model.final_logits_bias.copy_(0.5 * torch.randn_like(model.final_logits_bias))
    if family == "marian":
        model.generation_config.bad_words_ids = [[2]]   # opus-mt's generation config bans its pad token
    return model


def save_checkpoint(model, tokenizer: Tokenizer, folder: Path, **save_kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, **save_kwargs)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder
