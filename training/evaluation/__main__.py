"""`python -m training.evaluation MODEL_DIR --data PATH`: same as `python -m training evaluate`."""

from training.evaluation.cli import main

raise SystemExit(main())
