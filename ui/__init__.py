"""What the pages share: the start-up and frame (`frame`), session and URL state with the cached
model and trace (`state`), widgets (`widgets`), the list of pages (`sections`), and the helpers
of each group of pages (`attention`, `embedding`, `context`, `training`).

Importing any of these does no work: start-up is `frame.start()`, called by app.py.
"""
