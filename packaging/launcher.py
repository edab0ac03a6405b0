"""Entry point of the bundled app: ``video-sound-studio [VIDEO|PROJECT]`` opens the window,
``video-sound-studio COMMAND ...`` (analyze, generate, export, play, devices, bench, batch, ...)
or ``--version``/``--help`` runs the command line, so one executable serves both."""
import sys


def _cli_commands() -> set[str]:
    import argparse

    from studio.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(subs.choices)


def main() -> int:
    args = sys.argv[1:]
    if args and (args[0] in ("--version", "-h", "--help", "-q", "--quiet") or args[0] in _cli_commands()):
        from studio.cli import main as cli_main

        return cli_main(args)
    from ui.app import main as app_main

    return app_main([sys.argv[0], *args])


if __name__ == "__main__":
    sys.exit(main())
