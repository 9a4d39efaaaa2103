import sys

from yoto_smart_stream_ci.cli import main

sys.exit(main())
