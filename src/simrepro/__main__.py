from simrepro.cli import main

raise SystemExit(main())
