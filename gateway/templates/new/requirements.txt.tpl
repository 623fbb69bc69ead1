# Packages {{name}}/wrapper.py imports, one per line (e.g. numpy>=1.26).
# athena serves the aiges SDK imports itself: do not list aiges here.
