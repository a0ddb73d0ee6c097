"""Next token: the most likely next tokens of a language model after any position of the sentence."""
import pandas as pd
import streamlit as st

from analysis.lens import probability_and_rank, top_next_tokens
from ui.frame import require_frame
from ui.predictions import decoder_and_trace, token_text
from ui.widgets import linked, plot, sentence_key, show_text, token_labels
from viz.lens import next_token_bars, visible_token

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = decoder_and_trace()
t = len(trace.tokens)
left, right = st.columns([3, 1])
position = left.selectbox("After token", range(t), index=t - 1, **linked(f"position_{sentence_key(trace.text)}"),
                          format_func=token_labels(trace).__getitem__)
k = right.slider("How many", 3, 30, 10, **linked("k"))
ids, probs = top_next_tokens(trace.logits_at(position), k)
texts = [token_text(model, i) for i in ids]
plot(next_token_bars(texts, probs, f"The {len(ids)} most likely tokens after position {position}"), PAGE)
st.caption(f"␣ marks a leading space. The {len(ids)} bars hold {probs.sum():.1%} of the probability; the rest is "
           f"spread over the other {model.config.vocab_size - len(ids):,} tokens of the vocabulary.")
if position + 1 < t:
    actual = trace.ids[position + 1]
    p, rank = probability_and_rank(trace.logits_at(position), actual)
    st.caption(f"The token that really comes next in your text (below) has probability {p:.2%}, rank {rank:,} of "
               f"{model.config.vocab_size:,}.")
    show_text(visible_token(token_text(model, actual)), limit=80)
else:
    st.caption("This is the last token: the bars are the model's guess for how your text continues.")
table = pd.DataFrame({"rank": range(1, len(ids) + 1), "token": [visible_token(x) for x in texts],
                      "id": ids, "probability": probs})
st.dataframe(table, hide_index=True, width="content", key=f"{PAGE}_table",
             column_config={"probability": st.column_config.NumberColumn(format="%.4f")})
