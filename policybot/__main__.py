import sys

from policybot.cli import main

sys.exit(main())
