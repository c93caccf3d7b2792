"""The code MLflow logs as the churnml model ("models from code"): the pyfunc wrapper, whose state (the pickled
`ChurnModel`) is the `churn_model` artifact it loads in `load_context`.

Logging this file instead of a pickled wrapper object means the MLflow model holds no pickled Python object of
the wrapper itself, only the churnml class it names (`churnml.model.pyfunc.ChurnPyfunc`), so MLflow does not
warn about serialising `python_model` with CloudPickle. The `ChurnModel` artifact is still a pickle: load models
only from a tracking server you trust.
"""

from mlflow.models import set_model

from churnml.model.pyfunc import ChurnPyfunc

set_model(ChurnPyfunc())
