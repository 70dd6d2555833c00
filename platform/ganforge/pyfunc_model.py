"""MLflow models-from-code file for the ganforge generator pyfunc (see ganforge.pyfunc).

``tracking.log_generator`` passes this file's path as ``python_model=``; MLflow copies it into
the logged model and runs it on load. Nothing in ganforge imports it: ``set_model`` below is the
one statement MLflow's models-from-code needs at the file's top level.
"""
import mlflow

from ganforge.pyfunc import GeneratorModel

mlflow.models.set_model(GeneratorModel())
