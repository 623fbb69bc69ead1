"""`python -m loader`: run one worker (what `athena serve` starts N of)."""
import sys

from loader.cli import main

sys.exit(main())
