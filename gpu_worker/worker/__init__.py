"""The worker daemon: it stakes, takes matched jobs, computes and commits them, and keeps their
results readable (`daemon`), with its settings, registration, head following, job pipeline and
test-only cheating each in its own module, and its jobs' state on disk (`job_state`)."""
