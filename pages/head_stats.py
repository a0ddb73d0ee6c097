"""Head statistics: what each head looks at, in numbers, to find the heads worth opening."""
import math

import pandas as pd
import streamlit as st

from ui.attention import head_map, head_opener, stats_for
from ui.family import specials_text, statistic_names
from ui.frame import require_frame
from ui.state import current_model_name, current_trace
from ui.widgets import linked
from viz.heads import statistic_heatmap

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
STATISTICS = statistic_names(trace)
specials = specials_text(trace)
st.markdown("For every head, averaged over the query tokens of your sentence: how **spread out** its "
            "attention is, how **far** it looks, and what share lands on "
            + (f"the special tokens ({specials}), " if specials else "")
            + "the **previous** token, the **next** token and the token **itself** (after Clark et al., 2019, "
            "*What does BERT look at?*). Sort the table by a column, or colour the grid by one statistic.")
stats = stats_for(current_model_name(), trace.text)
if len(trace.tokens) < 6:
    st.info("A very short sentence: a few tokens make every head look alike. Try a longer sentence to "
            "tell the heads apart.")

name = st.selectbox("Statistic for the grid", list(STATISTICS), index=list(STATISTICS).index("previous"),
                    format_func={n: f"{label}: {meaning}" for n, (label, meaning) in STATISTICS.items()}.get,
                    **linked("stat"))
label = STATISTICS[name][0]
values = stats.get(name)
head_map(statistic_heatmap(values, label, f"{label} of every head", clickable=True), f"head_stats_{name}",
         key=f"{PAGE}_map")
best = divmod(int(values.argmax()), values.shape[1])
st.caption(f"**Click a cell to open that head** on the *One head* page. Highest {label}: "
           f"**layer {best[0]}, head {best[1]}** ({values.max():.3f}). "
           + ("A head with most of its weight on the previous token reads the word before — a "
              "*previous-token head*." if name == "previous" else
              f"Heads with most weight on {label[3:]} are often 'resting' there: a no-op sink." if name == "sep" else
              f"Entropy is at most log₂ {len(trace.tokens)} = {math.log2(len(trace.tokens)):.2f} bits here."
              if name == "entropy" else ""))

table = pd.DataFrame(stats.rows())[["layer", "head", *STATISTICS]].rename(
    columns={n: STATISTICS[n][0] for n in STATISTICS})
share = {STATISTICS[n][0]: st.column_config.ProgressColumn(STATISTICS[n][0], help=STATISTICS[n][1],
                                                           format="%.3f", min_value=0.0, max_value=1.0,
                                                           width="small")
         for n in ("cls", "sep", "previous", "next", "self") if n in STATISTICS}
st.dataframe(table, hide_index=True, width="stretch", height=420, key=f"{PAGE}_table", column_config={
    "layer": st.column_config.NumberColumn("layer", width="small"),
    "head": st.column_config.NumberColumn("head", width="small"),
    STATISTICS["entropy"][0]: st.column_config.NumberColumn(help=STATISTICS["entropy"][1], format="%.2f"),
    STATISTICS["distance"][0]: st.column_config.NumberColumn(help=STATISTICS["distance"][1], format="%.2f"),
    **share,
})
st.download_button("This table (CSV)", table.to_csv(index=False, float_format="%.5f"), file_name="head_statistics.csv",
                   mime="text/csv", key=f"{PAGE}_csv", icon=":material/download:", on_click="ignore")
st.subheader("Open a head")
st.caption("No mouse handy? Pick a head here instead of clicking the grid.")
head_opener(trace, PAGE, label="Show it", default=best)
