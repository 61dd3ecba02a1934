"""The demo: `manage.py demo`, `manage.py simulator` and the sample campaign.

Not part of the product: a development app next to `entrasim`, installed only by the dev
install (the repository root on sys.path), never by `pip install .` or the image.
"""
