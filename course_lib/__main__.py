"""``python -m course_lib run ...`` executes notebooks; ``train-checkpoints ...`` trains weights; ``lab`` opens JupyterLab;
``compare A.json B.json`` compares two runs' results; ``hosted`` rewrites the notebooks' self-installing first cells and
the README's badges."""
from __future__ import annotations

import sys

COMMANDS = ("run", "train-checkpoints", "lab", "compare", "hosted")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m course_lib {{{'|'.join(COMMANDS)}}} [options]  (add --help after a command)",
              file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        from course_lib import run

        return run.main(rest)
    if command == "compare":
        from course_lib import report

        return report.compare_main(rest)
    if command == "lab":
        from course_lib import lab

        return lab.main(rest)
    if command == "hosted":
        from course_lib import hosted

        return hosted.main(rest)
    from course_lib import train_checkpoints

    return train_checkpoints.main(rest)


if __name__ == "__main__":
    sys.exit(main())
