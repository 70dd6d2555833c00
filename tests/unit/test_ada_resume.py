"""ADA in the training step: p moves with D's r_t, travels in the checkpoint and resumes exactly.

Built as the worker loop builds a run (test_resume_exact's helpers): ``augment.ada`` turns on the
'bgc' pipeline on real and fake batches and puts the controller in ``GanModules.extras``.
"""
from __future__ import annotations

import pytest

from statecompare import differences
from test_resume_exact import build_run, final_state, resumed, train

pytestmark = pytest.mark.unit

# p moves 8 images / 1000 per D minibatch (interval 1, kimg 1): visible within a few steps.
ADA = {"augment": {"diffaugment": "", "ada": {"target": 0.45, "interval": 1, "kimg": 1, "p": 0.3}}}


def test_p_moves_with_ds_outputs_on_augmented_reals_and_resumes_exactly(tmp_path):
    whole = build_run(ADA, 7)
    seen = []  # what D said about the augmented reals of each D update
    whole.step.cfg.observe_real.append(lambda out: seen.append(float(out.sign().mean())))
    train(whole, 0, 7)
    expected = 0.3
    for r_t in seen:
        expected = min(max(expected + ((r_t > 0.45) - (r_t < 0.45)) * 8 / 1000, 0.0), 1.0)
    assert len(seen) == 7 and expected != 0.3
    assert whole.modules.extras["ada"].p == pytest.approx(expected)
    state = final_state(whole)
    got = final_state(resumed(ADA, 7, 3, tmp_path))
    assert not differences(state, got), differences(state, got)[:10]
    assert float(got["extras"]["ada"]["p"]) == pytest.approx(expected)
