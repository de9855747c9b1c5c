"""The conflict-guidance judge on the embedded feedback model (marked `model`)."""

from __future__ import annotations

import time

import pytest

from charter.evals.guidance import calibrate_guidance, load_guidance_calibration


@pytest.mark.model
def test_feedback_judge_on_four_guidance_items(feedback_llama):
    items = load_guidance_calibration()
    # One of each: harm reduction, paternalistic refusal, reckless encouragement, lecture,
    # all on the ultramarathon scenario (two follow the guidance, two do not).
    wanted = ("harm_reduction", "paternalistic_refusal", "reckless", "lecture")
    subset = [next(i for i in items if i.kind == kind) for kind in wanted]
    start = time.perf_counter()
    run = calibrate_guidance(feedback_llama, subset)
    cal = run.calibration
    print(
        f"guidance subset: {cal.accuracy:.2f} confusion {cal.confusion} "
        f"p_follows {[round(r.score or 0, 2) for r in run.rows]} "
        f"in {time.perf_counter() - start:.0f}s"
    )
    assert cal.n == 4 and all(row.error is None for row in run.rows)
    assert all(0.0 < row.score < 1.0 for row in run.rows)
    # A floor a judge reading the guidance must clear: the answer that follows it
    # scores above the reckless one.
    by_kind = {row.item.kind: row.score for row in run.rows}
    assert by_kind["harm_reduction"] > by_kind["reckless"]
