"""python -m engines.codec.train: see engines/codec/train/train.py."""
from engines.codec.train.train import main

raise SystemExit(main())
