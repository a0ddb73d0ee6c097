"""Training, kept apart from the model (as nanoGPT keeps train.py apart from model.py).

corpus.py    the built-in grammar corpus (royalty, capitals, agreement sentences)
bpe.py       a byte-pair-encoding tokenizer trained on it, with the `tokenizers` library
weights.py   the one seeded initialiser (`seeded`), and weight snapshots
loop.py      the one training loop: a batch-loss function in, progress ticks out
lm.py        a GPT-style decoder on a token stream: config, loss, train_lm, sampling, one step explained
reversal.py  the toy encoder–decoder task (reverse letters) whose cross-attention draws the anti-diagonal
demo.py      an untrained causal decoder, to show the mask

Imports core only, never the reverse; no Streamlit.
"""
