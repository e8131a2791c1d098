"""``python -m deepcnt``: the ``deepcnt`` command line (:mod:`deepcnt.bindings.cli`)."""

if __name__ == "__main__":
    from deepcnt.bindings.cli import main

    raise SystemExit(main())
