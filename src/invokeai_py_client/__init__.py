"""Drive InvokeAI from Python."""
