"""The work behind ``sslcli embed`` and ``sslcli eval``: a finished run's encoder over a corpus."""
