"""``ganforge study``: variants x seeds of one spec as Tune trials, and the papers' kind of table."""
