import sys

from pathview.cli import main

sys.exit(main())
