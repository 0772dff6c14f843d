"""Process exit statuses, the same for every command and for bot.py."""

EXIT_OK = 0
EXIT_ERRORS = 1  # the input has errors (knowledge base, query log), or a target was missed
EXIT_USAGE = 2  # bad arguments or settings
EXIT_INTERRUPTED = 130  # Ctrl-C
