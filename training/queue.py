"""The training runs' queue: the server's job queue (training/jobs.py) under its old name.

A page takes a ticket, shows its place in line while it waits, trains when `try_start`
says so, and always `leave`s (a finished, stopped or abandoned run frees its slot).
"""
from __future__ import annotations

from .jobs import JobQueue


class TrainingQueue(JobQueue):
    def __init__(self, slots: int = 1):
        super().__init__(slots, what="training")
