"""sslcli: self-supervised pretraining, batch embedding and evaluation from one CLI."""

__version__ = "0.1.0"
