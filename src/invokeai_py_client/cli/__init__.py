"""The `invokeai-py` command line (see `main.py`)."""
