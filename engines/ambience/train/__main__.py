from engines.ambience.train.train import main

raise SystemExit(main())
