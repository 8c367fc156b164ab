import sys

from listingsmith.cli import main

sys.exit(main())
