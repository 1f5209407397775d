# The Python-style API (issue 3): map family, named queues, env/argv config.
