"""The learner's labels (alwidget._labels.LabelBook): checked changes, the hook, and reverting an unsaved event."""

import numpy as np
import pytest

from alwidget._labels import SKIPPED, UNLABELED, UNSURE, LabelBook
from alwidget.errors import AlreadyLabeledError, InvalidInputError


def state(book):
    return (book.codes.tolist(), book.label_counts(), book.n_skipped, book.n_unsure, list(book.classes), book.history)


def idx(*i):
    return np.array(i, dtype=np.int64)


def test_changes_keep_codes_counts_and_history_together():
    book = LabelBook(6, ["bird", "bell"])
    book.teach(idx(0, 1), ["bird", "bell"])
    book.skip(idx(2))
    book.unsure(idx(3))
    assert book.codes.tolist() == [0, 1, SKIPPED, UNSURE, UNLABELED, UNLABELED]
    assert book.label_counts() == {"bird": 1, "bell": 1} and book.n_labeled == 2 and book.n_seen == 2
    assert (book.n_skipped, book.n_unsure) == (1, 1)
    assert [e.kind for e in book.history] == ["teach", "skip", "unsure"] and book.version == 3
    assert book.undo().kind == "unsure" and book.codes[3] == UNLABELED and book.n_unsure == 0


def test_a_refused_change_leaves_the_book_as_it_was():
    book = LabelBook(4, ["bird", "bell"])
    book.teach(idx(0), ["bird"])
    book.skip(idx(1))
    before, versions = state(book), (book.version, book.label_version)
    with pytest.raises(AlreadyLabeledError, match="clip 0 is already labelled 'bird'"):
        book.teach(idx(2, 0), ["bell", "bell"])
    with pytest.raises(InvalidInputError, match="clip 1 is already skipped"):
        book.skip(idx(3, 1))
    with pytest.raises(InvalidInputError, match="clip 2 has no label to change"):
        book.relabel(idx(2), ["bell"])
    assert state(book) == before and (book.version, book.label_version) == versions


def test_the_hook_gets_new_events_with_their_numbers_not_replayed_ones():
    book = LabelBook(5, ["bird"])
    seen = []
    book.on_record = lambda event, seq, target_seq: seen.append((event.kind, seq, target_seq))
    book.teach(idx(0), ["bird"], seq=7)  # replayed: already on disk
    book.teach(idx(1), ["bird"])
    book.undo()
    book.add_class("bell")
    assert seen == [("teach", 8, None), ("undo", 9, 8), ("add_class", 10, None)]


def test_revert_last_takes_back_an_event_that_could_not_be_saved():
    book = LabelBook(4, ["bird", "bell"])
    book.teach(idx(0, 1), ["bird", "bell"])
    saved = state(book)
    book.teach(idx(2), ["bell"])
    book.revert_last(1, None)  # the teach just recorded, number 1
    assert state(book) == saved and book.next_seq == 1 and book.ledger.last_undoable_seq() == 0
    book.undo()
    book.revert_last(1, 0)  # the undo of event 0: the labels and the undo stack come back
    assert state(book) == saved and book.ledger.last_undoable_seq() == 0
    book.add_class("hum")
    book.revert_last(1, None)
    assert book.classes == ["bird", "bell"] and "hum" not in book.code
    versions = book.label_version
    book.skip(idx(3))
    book.revert_last(1, None)
    assert book.codes[3] == UNLABELED and book.n_skipped == 0 and book.label_version > versions
