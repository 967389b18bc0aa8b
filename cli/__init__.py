"""The ``goldentime`` command line: every module here registers its commands on the main app."""
