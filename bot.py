"""Entry point: the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the console chat.

    python bot.py            # Telegram (polling), or the console chat without a token
    python bot.py --console  # force the console chat
"""

import argparse
import logging
import sys

from policybot.config import Config, ConfigError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--console", action="store_true", help="chat in the terminal even if a token is set")
    args = parser.parse_args()
    try:
        cfg = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    console = args.console or not cfg.token
    # In the console chat, log lines would interleave with the conversation: warnings only.
    level = max(logging.getLevelName(cfg.log_level), logging.WARNING) if console else cfg.log_level
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    if console:
        from policybot.console import run_console

        return run_console(cfg, notice=not cfg.token)
    from policybot.app import run

    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
