import threading

import pytest

from studio.errors import JobCancelled
from studio.jobs import Job, JobRunner


def test_progress_is_reported_clamped_and_monotonic():
    seen = []
    job = Job("t", seen.append)
    job.report(0.5, "half")
    job.report(0.2)  # never goes backwards
    job.report(7.0, "done")
    assert [p.fraction for p in seen] == [0.5, 0.5, 1.0]
    assert seen[1].message == "half" and seen[2].message == "done"


def test_sub_jobs_map_into_the_parent_range():
    seen = []
    job = Job("t", seen.append)
    stage = job.sub(0.5, 1.0).sub(0.0, 0.5)  # covers 0.5..0.75 of the whole
    stage.report(0.5)
    assert seen[-1].fraction == pytest.approx(0.625)


def test_reports_from_threads_at_once_reach_the_listener_one_at_a_time_in_order():
    """Engines report from threads at once (studio.generate): the listener (a line printed, a
    bar drawn) is never entered twice at once, and the fractions it sees never go back."""
    inside, overlaps, seen = [0], [], []
    lock = threading.Lock()

    def listener(p):
        with lock:
            inside[0] += 1
            overlaps.append(inside[0] > 1)
        threading.Event().wait(0.0005)  # a slow listener: the other thread reports meanwhile
        seen.append(p.fraction)
        with lock:
            inside[0] -= 1
    job = Job("t", listener)
    go = threading.Barrier(2)

    def engine(stage):
        go.wait()
        for i in range(100):
            stage.report(i / 99)
    threads = [threading.Thread(target=engine, args=(job.sub(a, b),)) for a, b in ((0.0, 0.5), (0.5, 1.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 200 and not any(overlaps)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_cancel_from_a_listener_stops_the_worker():
    job = Job("t")
    job.add_listener(lambda p: job.cancel() if p.fraction >= 0.3 else None)
    done = []
    with pytest.raises(JobCancelled):
        for i in range(10):
            job.report(i / 10)
            done.append(i)
    assert done == [0, 1, 2, 3]  # report(0.3) cancelled via the listener; report(0.4) raised


def test_runner_cancels_a_running_job():
    started = threading.Event()

    def work(job):
        started.set()
        while True:
            job.report(0.1)

    runner = JobRunner()
    job, future = runner.submit("loop", work)
    assert started.wait(5)
    job.cancel()
    with pytest.raises(JobCancelled):
        future.result(timeout=5)
    runner.shutdown()
