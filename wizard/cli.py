"""The command line. ``--help`` and ``--version`` load no plugin and no heavy library."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections import namedtuple

from wizard import __version__
from wizard.i18n import _, translate_argparse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path

PROG = "openclaw-remote"


def _common_options(parser: argparse.ArgumentParser, questions, secrets: bool = True) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help=_("show every file diff and command, change nothing"))
    parser.add_argument(
        "--yes",
        "--non-interactive",
        dest="yes",
        action="store_true",
        help=_("never prompt: take answers from flags, environment, --answers, saved answers, defaults"),
    )
    parser.add_argument("--answers", metavar="FILE", type=_path, help=_("TOML file of answers"))
    _json_option(parser)
    _home_option(parser)
    group = parser.add_argument_group(_("answers"))
    for question in questions:
        if question.secret and not secrets:
            continue
        if question.secret:
            group.add_argument(question.flag + "-stdin", dest=question.name + "_stdin", action="store_true",
                               help=_("read the secret answer '{name}' from standard input (or set {env})").format(
                                   name=question.name, env=question.env_var))
        elif question.confirm:
            group.add_argument(question.flag, dest=question.name, action="store_true",
                               default=None, help=question.help or question.prompt)
        else:
            group.add_argument(question.flag, dest=question.name, metavar=question.name.upper(),
                               help=_with_default(question))


def _with_default(question) -> str:
    """The flag's help, with its default when it is a fixed value (a computed one shows at the prompt)."""
    text = question.help or question.prompt
    if question.default is None or callable(question.default):
        return text
    return _("{help} (default: {default})").format(help=text, default=question.default).replace("%", "%%")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help=_("print one JSON object at the end (docs/status.md), progress on stderr; never prompts"))


# The commands whose --json is the run report (wizard/report.py); steps' and status' are their own.
REPORTING = ("setup", "run", "undo", "doctor")

HOME_ENV = "OPENCLAW_REMOTE_HOME"


def _path(text: str) -> Path:
    from pathlib import Path  # here, not at the top: --help imports none of pathlib, json or typing (~3 ms)

    return Path(text)


def _home_argument(text: str) -> Path:
    if not text.strip():  # Path("") is ".": an empty value must never mean the current directory
        raise argparse.ArgumentTypeError(_("empty; give a directory"))
    return _path(text)


def _home_option(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Accepted before and after the command; SUPPRESS keeps the command's parser from resetting
    # a --home given before it to None.
    parser.add_argument("--home", metavar="DIR", type=_home_argument, default=None if top else argparse.SUPPRESS,
                        help=_("treat DIR as your home directory (default: $OPENCLAW_REMOTE_HOME or ~)"))


def _steps_arguments(parser: argparse.ArgumentParser, questions) -> None:
    parser.add_argument("--json", action="store_true", help=_("machine-readable output"))
    _home_option(parser)


def _status_arguments(parser: argparse.ArgumentParser, questions) -> None:
    parser.add_argument("--json", action="store_true", help=_("machine-readable output (docs/status.md)"))
    _home_option(parser)
    answers = parser.add_argument_group(_("answers"))
    for question in questions:
        if not (question.secret or question.confirm):
            answers.add_argument(question.flag, dest=question.name, metavar=question.name.upper(),
                                 help=question.help or question.prompt)


def _run_arguments(parser: argparse.ArgumentParser, questions) -> None:
    parser.add_argument("names", nargs="+", metavar="STEP", help=_("step names, as 'steps' lists them"))
    _common_options(parser, questions)


def _doctor_arguments(parser: argparse.ArgumentParser, questions) -> None:
    parser.add_argument("--fix", action="store_true",
                        help=_("apply the fixes (asking before each one unless --yes), then check again"))
    _common_options(parser, questions)


def _undo_arguments(parser: argparse.ArgumentParser, questions) -> None:
    parser.add_argument("names", nargs="*", metavar="STEP", help=_("step names, as 'steps' lists them"))
    # Undo acts on what setup recorded, so it takes no answers: only these.
    parser.add_argument("--dry-run", action="store_true", help=_("show every file diff and command, change nothing"))
    parser.add_argument("--yes", "--non-interactive", dest="yes", action="store_true",
                        help=_("do not ask for consent (needed without a terminal)"))
    _json_option(parser)
    _home_option(parser)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` reads it: $COLUMNS, else the terminal
    on stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns


class _Formatter(argparse.HelpFormatter):
    """argparse's own formatter, told the terminal's width: left to find it, argparse imports
    shutil (~2 ms, with bz2 and lzma) at every start, though the width matters only when a help
    or an error is printed."""

    def __init__(self, prog, **options):
        if options.get("width") is None:
            options["width"] = _columns() - 2  # what argparse keeps of the width it finds
        super().__init__(prog, **options)


def build_parser(questions=(), plugin_commands=(), only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. ``only``: the command about to run, alone with its options (argparse
    parses it the same, ~2 ms sooner); a name that is no command gets all the commands, without
    their options, for argparse to list in its error."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=_Formatter,
        description=_("Connect OpenClaw.app to a remote OpenClaw Gateway through an SSH tunnel, step by step."),
        epilog=_(
            "Run '{prog} setup' for the guided first run, or '{prog} setup --dry-run' to see what it would do."
        ).format(prog=PROG),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help=_("show program's version number and exit"))
    _home_option(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar=_("COMMAND"))

    plugin_commands = list(plugin_commands)
    names = [*COMMANDS, *(command.name for command in plugin_commands)]
    listed = [only] if only in names else names
    with_options = only is None or only in names
    for name, command in COMMANDS.items():
        if name in listed:
            sub = commands.add_parser(name, help=command.help(), formatter_class=_Formatter)
            if with_options:
                command.arguments(sub, questions)
    for command in plugin_commands:
        if command.name in listed:
            sub = commands.add_parser(command.name, help=command.help, formatter_class=_Formatter)
            if with_options:
                _home_option(sub)
                command.add_arguments(sub)
    return parser


def _command_named(argv: list[str]) -> str | None:
    """The command ``argv`` runs, when nothing but ``--home`` comes before it (the only top-level
    option that takes a value); None when that cannot be told without parsing."""
    rest = argv
    while rest and (rest[0] == "--home" or rest[0].startswith("--home=")):
        rest = rest[2:] if rest[0] == "--home" else rest[1:]
    return rest[0] if rest and not rest[0].startswith("-") else None


def _home(args) -> Path:
    import shlex
    from pathlib import Path

    from wizard.errors import UsageError

    given = getattr(args, "home", None)
    source = "--home" if given is not None else HOME_ENV
    raw = given if given is not None else os.environ.get(HOME_ENV)
    if raw is not None and not str(raw).strip():
        raise UsageError(_("{env} is set but empty; unset it or give a directory").format(env=HOME_ENV))
    home = Path(raw if raw is not None else Path.home()).expanduser().absolute()
    try:  # every file and command line the wizard writes names a path under it
        str(home).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            _("{source} {path!r}: the path is not UTF-8 text").format(source=source, path=str(home))
        ) from None
    if any(ord(char) < 32 or ord(char) == 127 for char in str(home)):
        raise UsageError(_("{source} {path!r}: the path contains a control character").format(
            source=source, path=str(home)))
    if home.exists() and not home.is_dir():
        raise UsageError(_("{source} {path}: not a directory").format(source=source if raw is not None else "~",
                                                                      path=home))
    if not home.is_dir():
        # Not created for you: a typo would otherwise become a new, empty home.
        raise UsageError(_("{source} {path}: no such directory; create it first (mkdir -p {quoted}) or give "
                           "another one").format(source=source if raw is not None else "~", path=home,
                                                 quoted=shlex.quote(str(home))))
    return home


def _make_context(args, questions: dict, *, dry_run: bool, interactive: bool, writes: bool | None = None):
    """The context for this command line (wizard.context.make_context, from the parsed arguments)."""
    from wizard.context import make_context

    return make_context(
        _home(args), questions, dry_run=dry_run, interactive=interactive, writes=writes,
        flags={name: getattr(args, name, None) for name in questions},
        stdin_names=[name for name, q in questions.items() if q.secret and getattr(args, name + "_stdin", False)],
        answers_file=getattr(args, "answers", None), stdout_is_data=getattr(args, "json", False),
        report=getattr(args, "report", None))


def _cmd_steps(args, stepset, questions) -> int:
    from wizard.flow import guarded
    from wizard.step import StepFailed

    ctx = _make_context(args, questions, dry_run=True, interactive=False)
    rows = []
    for step in stepset.steps:
        ctx.step_name = step.name
        try:
            reason = guarded(step.applies, ctx)
        except StepFailed as failure:  # one broken plugin must not hide the other steps
            reason = failure.message
        record = ctx.state.step(step.name)
        rows.append({
            "name": step.name, "title": step.title, "plugin": stepset.owner[step.name],
            "applies": reason is None, "reason": reason,
            "done": record.get("status") == "done", "recorded_at": record.get("at"),
        })
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        applies = _("yes") if row["applies"] else _("no") + f" ({row['reason']})"
        status = ctx.state.step(row["name"]).get("status")
        done = (_("recorded done {at}").format(at=row["recorded_at"]) if row["done"]
                else _("last run failed") if status == "failed"
                else _("last run stopped midway") if status == "started" else _("not done"))
        print(f"{row['name']:<{width}}  {row['title']}\n{'':<{width}}  "
              + _("applies here: {applies}; {done}; plugin {plugin}").format(
                  applies=applies, done=done, plugin=row["plugin"]))
    return 0


def _cmd_status(args, stepset, questions) -> int:
    from wizard.status import run_status

    ctx = _make_context(args, questions, dry_run=True, interactive=False)
    return run_status(stepset.checks, ctx, args.json)


def _cmd_plugins(args, stepset, questions) -> int:
    rows = [info.as_json() for info in stepset.plugins]
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        origin = (_("{distribution} {version}").format(distribution=row["distribution"], version=row["version"])
                  if row["distribution"] else _("registered in-process"))
        print(f"{row['name']}  ({origin})")
        if row["skipped"]:
            print("  " + _("skipped: {why}").format(why=row["skipped"]))
            continue
        for label, names in (
            (_("steps"), row["steps"]),
            (_("commands"), row["commands"]),
            (_("checks"), row["checks"]),
        ):
            if names:
                print("  " + _("{kind}: {names}").format(kind=label, names=", ".join(names)))
    return 0


def _cmd_plugin_command(args, stepset, questions) -> int:
    """A plugin's command, guarded like a step: its failure is a message and an exit code, never a traceback."""
    from wizard.errors import UsageError
    from wizard.step import StepFailed

    command = stepset.commands[args.command]
    with _locked(args, not command.changes(args)):
        ctx = _make_context(args, questions, dry_run=False, interactive=False, writes=command.changes(args))
        try:
            return command.run(ctx, args)
        except StepFailed as failure:
            ctx.ui.error(failure.message)
            if failure.kept:
                ctx.ui.say("  " + failure.kept, err=True)
            return 1
        except (UsageError, OSError):
            raise  # handled as for every command: exit 2; "stopped: …" and exit 1
        except Exception as exc:  # noqa: BLE001  (a plugin's bug: one line naming it, never a traceback)
            ctx.ui.error(_("command {name} (plugin {plugin}) crashed: {why}").format(
                name=args.command, plugin=stepset.command_owner.get(args.command, "?"),
                why=f"{type(exc).__name__}: {exc}"))
            return 1


def _selected(args, stepset) -> list:
    """The named steps in run order; every step when none is named."""
    if not getattr(args, "names", None):
        return stepset.steps
    known = [step.name for step in stepset.steps]
    unknown = [name for name in args.names if name not in known]
    if unknown:
        from wizard.errors import UsageError

        raise UsageError(_("unknown step {names}; the steps are: {known}").format(
            names=", ".join(unknown), known=", ".join(known)))
    return [step for step in stepset.steps if step.name in args.names]


def _interactive(args, questions) -> bool:
    from wizard.ui import stdin_is_tty

    # --json is for a program: it reads stdout and types nothing, so nothing is asked.
    return (not args.yes and not args.json and stdin_is_tty()
            and not any(getattr(args, name + "_stdin", False) for name in questions))


def _locked(args, dry_run: bool):
    """Commands that change things hold the home's lock; looking (dry runs) needs none."""
    from contextlib import nullcontext

    from wizard.lock import exclusive

    return nullcontext() if dry_run else exclusive(_home(args))


def _cmd_steps_run(args, stepset, questions) -> int:
    from wizard.flow import run_steps

    selected = _selected(args, stepset)
    with _locked(args, args.dry_run):
        ctx = _make_context(args, questions, dry_run=args.dry_run, interactive=_interactive(args, questions))
        return run_steps(selected, ctx)


def _cmd_doctor(args, stepset, questions) -> int:
    from wizard.doctor import run_doctor

    with _locked(args, args.dry_run or not args.fix):
        ctx = _make_context(args, questions, dry_run=args.dry_run, interactive=_interactive(args, questions),
                            writes=args.fix and not args.dry_run)
        return run_doctor(stepset.checks, {step.name: step for step in stepset.steps}, ctx,
                          fix=args.fix, assume_yes=args.yes)


def _cmd_undo(args, stepset, questions) -> int:
    from wizard.undo import run_undo

    selected = _selected(args, stepset)
    with _locked(args, args.dry_run):
        ctx = _make_context(args, questions, dry_run=args.dry_run, interactive=_interactive(args, questions))
        return run_undo(selected, ctx, assume_yes=args.yes)


# Not a dataclass or a typing.NamedTuple: `--help` would pay for importing dataclasses or typing.
# help: () -> str, translated when the parser is built; arguments: (sub-parser, questions), fills
# the command's sub-parser; run: (args, stepset, questions) -> exit code.
HostCommand = namedtuple("HostCommand", "help arguments run")


# The host's own commands, in --help order. Their names are reserved: a plugin command cannot take one.
COMMANDS: dict[str, HostCommand] = {
    "steps": HostCommand(lambda: _("list the steps in order: applies here? done?"), _steps_arguments, _cmd_steps),
    "setup": HostCommand(lambda: _("guided first run: every step that applies, in order"), _common_options,
                         _cmd_steps_run),
    "status": HostCommand(lambda: _("check every layer of the connection: ok, warn or fail"), _status_arguments,
                          _cmd_status),
    "run": HostCommand(lambda: _("re-run just these steps"), _run_arguments, _cmd_steps_run),
    "doctor": HostCommand(lambda: _("status, then the cause and the fix of every failing layer"), _doctor_arguments,
                          _cmd_doctor),
    "undo": HostCommand(lambda: _("reverse steps, last first (all of them when none is named)"), _undo_arguments,
                        _cmd_undo),
    "plugins": HostCommand(lambda: _("list the loaded plugins: version, what each registered, why a broken one was "
                                     "skipped"), _steps_arguments, _cmd_plugins),
}


class _ListedCommand:
    """A plugin command as ``--help`` lists it: its name from the packaging metadata, no plugin loaded."""

    def __init__(self, name: str, distribution: str):
        from wizard.plugin_index import BUILTIN_DISTRIBUTION

        self.name = name
        more = _("see '{prog} {name} --help'").format(prog=PROG, name=name)
        self.help = more if distribution == BUILTIN_DISTRIBUTION else _("from plugin {plugin}; {more}").format(
            plugin=distribution, more=more)

    def add_arguments(self, parser) -> None:
        pass


def _listed_commands() -> list[_ListedCommand]:
    from wizard.plugin_index import indexed_commands

    return [_ListedCommand(name, distribution) for name, distribution in indexed_commands()
            if name not in COMMANDS]


_collector_paused = False


def console_main() -> int:
    """The ``openclaw-remote`` command (and ``python -m wizard``): ``main`` with a faster start
    and end. The garbage collector is off while the host and the plugins are imported (they make
    no cycles worth collecting, and its passes over each new module's objects are paid at every
    start) and back on for the run itself, with what they made frozen (no collection looks at it
    again); at the end, ``gc.freeze()`` spares the interpreter's teardown a last walk over every
    object. Callers in the same process (tests, plugins) call ``main``, which never turns the
    collector off."""
    global _collector_paused
    _collector_paused = True
    gc.disable()
    try:
        return main()
    finally:
        _collector_paused = False
        gc.freeze()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    translate_argparse()
    if not argv or argv[0] in ("-h", "--help", "--version"):
        parser = build_parser(plugin_commands=_listed_commands())
        parser.parse_args(argv)  # prints and exits for --help/--version
        parser.print_help()
        return 2

    from wizard.errors import PluginError
    from wizard.host import collect_steps, merged_questions
    from wizard.ui import UI

    ui = UI()
    try:
        stepset = collect_steps(reserved=COMMANDS)
    except PluginError as exc:
        ui.error(str(exc))
        return 2
    finally:
        if _collector_paused:  # console_main turned it off for the imports only
            gc.freeze()  # what they made lives as long as the process
            gc.enable()
    for problem in stepset.problems:
        ui.warn(problem)
    if not stepset.steps:  # even the built-ins register through the package's entry points
        ui.error(_("no steps found: install the package (pip install -e .)"))
        return 2
    try:
        questions = merged_questions(stepset.steps)
    except PluginError as exc:
        ui.error(str(exc))
        return 2
    parser = build_parser(questions.values(), stepset.commands.values(), only=_command_named(argv))
    args = parser.parse_args(argv)
    if args.command is None:  # `openclaw-remote --home DIR` alone: no command, not a setup
        parser.print_help()
        return 2
    from wizard import state

    state.declare_record_fields(stepset.steps)  # a hand-edited record is refused, not trusted
    if args.command in REPORTING and args.json:
        from wizard.report import Report

        args.report = Report(args.command, dry_run=args.dry_run)
        code = _dispatch(args, stepset, questions, ui)
        try:
            print(args.report.dumps(code), flush=True)  # the one thing on stdout, however the command ended
        except BrokenPipeError:  # the reader left before the end: nobody to tell
            sys.stdout = open(os.devnull, "w")
        return code
    return _dispatch(args, stepset, questions, ui)


def _dispatch(args, stepset, questions, ui) -> int:
    from wizard.errors import UsageError

    report = getattr(args, "report", None)
    try:
        if args.command in COMMANDS:
            return COMMANDS[args.command].run(args, stepset, questions)
        return _cmd_plugin_command(args, stepset, questions)
    except UsageError as exc:
        for problem in exc.problems:  # every bad flag at once, one line each
            ui.error(problem)
            if report is not None:
                report.error(problem)
        return 2
    except (KeyboardInterrupt, EOFError):
        ui.error(_("interrupted"))
        if report is not None:
            report.error(_("interrupted"))
        return 130
    except BrokenPipeError:  # `openclaw-remote … | head`: the reader left, that is all
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # the file system refused something no check foresaw (a full disk): say it, exit 1
        ui.error(_("stopped: {why}").format(why=exc))
        if report is not None:
            report.error(_("stopped: {why}").format(why=exc))
        return 1
    finally:  # for a caller in the same process (a test, a plugin): its environment as it was
        from wizard.context import restore_environment

        restore_environment()
