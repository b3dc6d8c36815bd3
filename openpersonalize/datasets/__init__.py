"""Data sets shipped with the package (MovieLens ml-latest-small, GroupLens licence in its README.txt)."""
