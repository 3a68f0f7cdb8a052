"""Experiment tracking: TensorBoard event files in ``RUN_DIR/tb/`` by default, MLflow and Weights &
Biases on request (``--logger``), all behind one small interface (``base.Logger``) and a fan-out
(``fanout.Tracking``) that only rank 0 opens. Importing this package imports no tracker or torch."""
