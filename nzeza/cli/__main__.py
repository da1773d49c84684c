import sys

from nzeza.cli import main

sys.exit(main())
