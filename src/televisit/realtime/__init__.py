"""Moving events between instances: the broker protocol and its in-process and Redis backends."""
