"""ganforge: train, compare, tune, evaluate and serve GANs from one experiment spec."""
import os as _os

# Set before albumentations / MLflow / Ray are imported anywhere in a ganforge process: they
# otherwise phone home (update checks, telemetry, usage stats), which hangs or fails offline.
for _name, _value in (
    ("NO_ALBUMENTATIONS_UPDATE", "1"),
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("RAY_USAGE_STATS_ENABLED", "0"),
):
    _os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
