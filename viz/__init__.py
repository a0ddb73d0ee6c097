"""Plotly figure builders: plain data in, go.Figure out. No Streamlit here.

common.py          safe labels, token axes, the colour scales and the category palette (`colour(i)`)
attention.py       one head's heatmap (square or cross-attention), heads side by side, differences, key bars
heads.py           the all-heads grid of thumbnails and layers × heads statistic maps
lines.py           BertViz-style lines from queries to keys
steps.py           the "inside the model" figures: matrices, vectors, bars of one query's numbers
rotary.py          rotary positions: the angle of each dimension pair by position, q pairs turned as arrows
lens.py            next-token bars and the logit-lens grid (layers × positions)
context.py         trajectories through the layers, the vocabulary lens, per-layer movement
embedding_space.py analogies and the projector
training.py        loss and accuracy curves, next-token probabilities, one training step
"""
