"""`python -m processors`: run one Faust worker with settings from the environment."""

import sys

from apim import settings as config
from processors.worker import run

if __name__ == "__main__":
    try:
        run(config.load())
    except config.ConfigError as exc:
        sys.exit(f"apim worker: {exc}")
