"""Quiz: predict, then reveal — questions made from the model's own numbers for the sidebar's sentence.

Which token a head attends to most, which layer moves a word most, what a language model expects
next, which word answers an analogy: the learner predicts, reveals, reads the numbers. The questions
follow from the sentence and model alone, so a teacher's link shows everyone the same set.
"""
import streamlit as st

from ui.frame import require_frame
from ui.quiz import predict_then_reveal, quiz_for, quiz_link, shareable, start_over
from ui.state import current_model_name, current_trace
from ui.widgets import linked, show_text

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
model_name = current_model_name()
questions = quiz_for(model_name, trace.text)
if not questions:
    st.info("This sentence is too short to ask about: a question needs at least three tokens or layers to "
            "choose from. Add a few words in the sidebar.")
    st.stop()

teacher = st.toggle("Teacher's view: show every answer", **linked("teacher"),
                    help="See the answers and explanations before sharing the link with a class.")
st.caption("The sentence:")
show_text(trace.text)
results = [predict_then_reveal(question, f"{PAGE}_q", number=i + 1, framed=True, teacher=teacher, text=trace.text)
           for i, question in enumerate(questions)]

st.subheader("Score")
revealed = [r for r in results if r is not None]
right = sum(revealed)
if teacher:
    st.caption("Switch the teacher's view off to answer the questions.")
elif len(revealed) == len(questions):
    (st.success if right == len(questions) else st.info)(
        f"You got **{right} of {len(questions)}** right." + (" Every one!" if right == len(questions) else
                                                             " Read the explanations of the others, or try "
                                                             "a new sentence."))
else:
    st.caption(f"{len(revealed)} of {len(questions)} revealed so far, {right} right.")
if revealed:
    st.button("Start over", key=f"{PAGE}_again", on_click=start_over, args=(f"{PAGE}_q_",),
              icon=":material/restart_alt:")

st.subheader("Share this quiz")
link = quiz_link(model_name, trace.text)
if link is None:
    st.info("This text is too long to travel in a link: share a shorter sentence (up to 2,000 characters).")
else:
    st.caption("Copy this link (the icon at its right): it opens this page with the same sentence and model, "
               "so everyone gets the same questions.")
    st.code(link, language=None, wrap_lines=True)
    if not shareable(model_name):
        st.warning("This model was trained or opened in your session only: others who open the link get "
                   "MiniLM and different questions.")
