"""The Create provider queue under the interleavings that overlapping runs of one session
produce (runner.fastReruns): no click lost, no second create, the result always shown."""

from __future__ import annotations

import threading

from components.create_queue import CreateQueue

VALUES = {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com"}


def queue_and_state() -> tuple[CreateQueue, dict]:
    state: dict = {}
    return CreateQueue(state, threading.Lock()), state


def test_a_run_stopped_after_reading_the_request_leaves_it_for_the_next_run():
    queue, _ = queue_and_state()
    # A run (say, after a field changed) is drawing the page when the click comes: the click
    # starts run 2, whose callback queues the create, and run 1 is told to stop. Run 1 reads
    # the request just before it stops at its next Streamlit call.
    assert queue.click("jane@example.com", VALUES)
    run_one_read = queue.next()
    assert run_one_read is not None
    assert queue.next() is run_one_read  # run 2 still finds it: the click is not lost


def test_a_second_click_carries_the_first_clicks_token():
    queue, _ = queue_and_state()
    queue.click("jane@example.com", VALUES)
    first = queue.next()
    assert queue.click("jane@example.com", VALUES)
    second = queue.next()
    assert second is not first and second.token == first.token  # finds the first one's row


def test_a_click_queued_while_the_first_is_in_its_call_survives_the_first_runs_end():
    queue, _ = queue_and_state()
    queue.click("jane@example.com", VALUES)
    first = queue.next()
    queue.click("jane@example.com", VALUES)  # second half of a double click, mid-call
    queue.answered({"email": "jane@example.com", "status": "created"}, clear_form=True)
    queue.done(first)
    second = queue.next()
    assert second is not None and second.token == first.token  # shows the first's result
    queue.done(second)
    assert queue.next() is None


def test_a_late_second_click_on_the_form_just_created_is_answered_by_the_result_on_screen():
    queue, state = queue_and_state()
    queue.click("jane@example.com", VALUES)
    first = queue.next()
    queue.answered({"email": "jane@example.com", "status": "created"}, clear_form=True)
    queue.done(first)
    assert not queue.click("jane@example.com", VALUES)  # before the form was emptied
    assert queue.next() is None
    assert queue.form_cleared() and not queue.form_cleared()  # the next run empties it, once
    assert queue.click("jane@example.com", VALUES)  # afterwards: a deliberate new create
    assert queue.next().token != first.token
    assert state["cp_outcome"]["email"] == "jane@example.com"


def test_after_a_failure_the_next_click_is_a_new_attempt_and_nothing_is_shown():
    queue, state = queue_and_state()
    queue.click("jane@example.com", VALUES)
    first = queue.next()
    queue.answered(None, clear_form=False)
    queue.done(first)
    assert "cp_outcome" not in state and queue.next() is None
    assert queue.click("jane@example.com", VALUES)
    assert queue.next().token != first.token


def test_many_threads_clicking_and_finishing_at_once_leave_a_consistent_queue():
    queue, _ = queue_and_state()
    taken: list = []

    def run() -> None:
        for _ in range(500):
            queue.click("jane@example.com", VALUES)
            request = queue.next()
            if request is not None:
                taken.append(request)
                queue.done(request)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.token for r in taken}) == 1  # never answered: every click is one create
    leftover = queue.next()
    assert leftover is None or leftover.token == taken[0].token
