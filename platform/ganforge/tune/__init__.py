"""Hyperparameter search on Ray Tune over the experiment spec (``ganforge tune``).

- :mod:`ganforge.tune.space`: the ``search:`` section -> validated search space and settings
- :mod:`ganforge.tune.trial`: one trial = one Ray Train run of the shared worker loop
- :mod:`ganforge.tune.search`: the Tuner, the parent MLflow run, ``--resume``
- :mod:`ganforge.tune.results`, :mod:`ganforge.tune.summary`: table, plot, best spec, registry
- :mod:`ganforge.tune.truncation`: FID/IS against the truncation threshold, no retraining
"""
