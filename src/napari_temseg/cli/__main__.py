"""`python -m napari_temseg.cli`: the `temseg` command."""

import sys

from . import main

sys.exit(main())
