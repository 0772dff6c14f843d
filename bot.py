"""Entry point: the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the console chat.

    python bot.py            # Telegram (long polling, or a webhook when TELEGRAM_WEBHOOK_URL is
                             # set), or the console chat without a token
    python bot.py --console  # force the console chat
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping

from policybot.config import Config, ConfigError
from policybot.exitcodes import EXIT_USAGE


def main(argv: list[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--console", action="store_true", help="chat in the terminal even if a token is set")
    args = parser.parse_args(argv)
    try:
        cfg = Config.from_env(env)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    console = args.console or not cfg.token
    # In the console chat, log lines would interleave with the conversation: warnings only.
    level = max(logging.getLevelName(cfg.log_level), logging.WARNING) if console else cfg.log_level
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    if console:
        from policybot.console import run_console

        return run_console(cfg, notice=not cfg.token)
    if cfg.webhook_url:
        from policybot.bot import webhook

        return webhook.run(cfg)
    from policybot.bot.app import run

    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
