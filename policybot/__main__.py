"""`python -m policybot`: the CLI, with the commands that talk to Telegram wired in here (the
CLI layer may not import the bot layer; this entry point may). They import Telegram only when
they run, so other commands start fast."""

import argparse
import sys

from policybot.cli import main
from policybot.config import Config


def _set_webhook(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.bot.webhook import register

    return register(cfg, delete=args.delete)


sys.exit(main(telegram={"set-webhook": _set_webhook}))
