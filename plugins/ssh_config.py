"""Step ``ssh-config``: the guide's ``Host`` block, placed where ssh really reads it.

ssh takes the FIRST value it finds for each option, so our block goes at the top of
``~/.ssh/config``, ahead of the user's global lines and any ``Host *``. It ends with
``Match all`` so that the user's global lines that follow still apply to every host,
exactly as before. Markers around the block let a re-run replace it in place and let
undo remove it; every other byte of the file is kept.
"""

from __future__ import annotations

import re
from pathlib import Path

from plugins import _agent, _common, _ssh
from wizard import Check, Health, RemoveFile, Step, StepFailed, WriteFile, files, hookimpl
from wizard.answers import UsageError
from wizard.i18n import _

BEGIN = "# >>> openclaw-remote {alias} >>> managed block: change it with `openclaw-remote run ssh-config`"
END = "# <<< openclaw-remote {alias} <<<"
BEGIN_RE = re.compile(r"^# >>> openclaw-remote (\S+) >>>")
END_RE = re.compile(r"^# <<< openclaw-remote (\S+) <<<")
DISABLED = "#openclaw-remote-disabled# "
SECTION_RE = re.compile(r"^\s*(host|match)(\s|=)", re.IGNORECASE)
KEYWORD_RE = re.compile(r"^\s*([A-Za-z]+)\s*(=|\s)\s*(.*?)\s*$")
KEEPALIVE = {"ServerAliveInterval": "15", "ServerAliveCountMax": "3"}


def _values(ctx) -> dict:
    identity = ctx.answer("identity")
    if not ctx.real_home:  # ssh would expand ~ against the real home
        identity = str(_common.expand(ctx, identity))
    return {
        "alias": ctx.answer("alias"), "host": ctx.answer("host"), "user": ctx.answer("user"),
        "port": ctx.answer("port"), "identity": identity,
        "local_port": ctx.answer("local_port"), "remote_port": ctx.answer("remote_port"),
        "agent": agent_lines(ctx),
    }


def agent_lines(ctx) -> list[str]:
    """How the background tunnel reaches a key with a passphrase (plugins/_agent.py): on macOS the
    Keychain keeps the passphrase and the agent is filled again after a reboot (``UseKeychain``,
    which only Apple's ssh knows, hence ``IgnoreUnknown`` first for Homebrew's); an agent other
    than macOS's own is named, since launchd's and systemd's ssh never see the shell's SSH_AUTH_SOCK."""
    lines = []
    if ctx.platform == "darwin":
        lines += ["IgnoreUnknown UseKeychain", "UseKeychain yes", "AddKeysToAgent yes"]
    socket = _agent.custom_agent(ctx)
    # On Linux only for a key that needs the agent: an agent's socket often changes at every
    # login, and naming it for a key without a passphrase would rewrite the block for nothing.
    if socket and (ctx.platform == "darwin" or _agent.key_needs_agent(ctx)):
        lines.append(f"IdentityAgent {_ssh.config_arg(socket)}")
    return lines


def render_block(v: dict, newline: str = "\n", explicit_port: bool = False) -> str:
    lines = [BEGIN.format(alias=v["alias"]), f"Host {v['alias']}",
             f"    HostName {v['host']}", f"    User {v['user']}"]
    if v["port"] != 22 or explicit_port:
        lines.append(f"    Port {v['port']}")
    lines += [
        f"    IdentityFile {_ssh.config_arg(v['identity'])}",
        "    IdentitiesOnly yes",
        *(f"    {line}" for line in v.get("agent", ())),
        f"    LocalForward 127.0.0.1:{v['local_port']} 127.0.0.1:{v['remote_port']}",
        "    ExitOnForwardFailure yes",
        *(f"    {key} {value}" for key, value in KEEPALIVE.items()),
        "# Lines after this one apply to every host again, as they did before this block.",
        "Match all",
        END.format(alias=v["alias"]),
    ]
    return newline.join(lines) + newline


def _keyword(line: str) -> tuple[str, str] | None:
    match = KEYWORD_RE.match(line)
    if not match or line.lstrip().startswith("#"):
        return None
    return match.group(1).lower(), match.group(3)


def find_managed(lines: list[str], alias: str) -> tuple[int, int] | None:
    """Line span [start, end] of our block for ``alias``; an error when it is damaged."""
    start = next((i for i, line in enumerate(lines)
                  if (m := BEGIN_RE.match(line)) and m.group(1) == alias), None)
    if start is None:
        return None
    for i in range(start + 1, len(lines)):
        if (m := END_RE.match(lines[i])) and m.group(1) == alias:
            return start, i
        if BEGIN_RE.match(lines[i]):
            break
    raise UsageError(_("the openclaw-remote block for {alias} in the ssh config has no end marker "
                       "(line {line}); repair or remove it by hand").format(alias=alias, line=start + 1))


def _outside_managed(lines: list[str]):
    """(index, line) pairs of the user's own lines, outside every managed block."""
    inside = False
    for i, line in enumerate(lines):
        if BEGIN_RE.match(line):
            inside = True
        if not inside:
            yield i, line
        if END_RE.match(line):
            inside = False


def host_patterns(value: str) -> list[str]:
    """A Host line's patterns as ssh reads them: a word starting with '#' ends the line,
    and double quotes around a pattern are not part of it."""
    patterns = []
    for word in value.split():
        if word.startswith("#"):
            break
        patterns.append(word.strip('"'))
    return patterns


def hand_written_blocks(lines: list[str], alias: str) -> list[tuple[int, int, list[str]]]:
    """``Host`` blocks the user wrote that name ``alias``: (start, end, patterns)."""
    found = []
    own = list(_outside_managed(lines))
    for pos, (i, line) in enumerate(own):
        kw = _keyword(line)
        if not kw or kw[0] != "host":
            continue
        patterns = host_patterns(kw[1])
        if alias not in patterns:
            continue
        end = i
        for j, later in own[pos + 1:]:
            if SECTION_RE.match(later) or j != end + 1:
                break
            end = j
        found.append((i, end, patterns))
    return found


def sets_port(lines: list[str]) -> bool:
    return any((kw := _keyword(line)) and kw[0] == "port" for _i, line in _outside_managed(lines))


def new_config(old: str, values: dict, replace_hand_written, explicit_port: bool = False) -> str:
    """The whole new file. ``replace_hand_written(block_text) -> bool`` decides about
    a block the user wrote for the same alias; it is only called when there is one.
    ``Port`` is written when not 22, when the file sets a port elsewhere, or on request."""
    lines = old.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for start, end, patterns in reversed(hand_written_blocks(lines, values["alias"])):
        if len(patterns) > 1:
            raise UsageError(_("line {line} of the ssh config ('{text}') also names other hosts; remove "
                               "{alias} from it by hand or choose another --alias").format(
                line=start + 1, text=lines[start].strip(), alias=values["alias"]))
        if not replace_hand_written("".join(lines[start:end + 1])):
            raise UsageError(_("kept your own Host {alias} block; choose another --alias or remove it").format(
                alias=values["alias"]))
        for i in range(start, end + 1):
            if lines[i].strip():
                lines[i] = DISABLED + lines[i]
    block = render_block(values, newline, explicit_port=explicit_port or sets_port(lines))
    span = find_managed(lines, values["alias"])
    if span is None:
        return block + "".join(lines)
    start, end = span
    return "".join(lines[:start]) + block + "".join(lines[end + 1:])


def remove_block(old: str, alias: str) -> str:
    """``old`` without our block for ``alias``, and with the user's own block for it (which setup
    commented out, with their consent) back as it was: every other byte is untouched."""
    lines = old.splitlines(keepends=True)
    span = find_managed(lines, alias)
    if span is not None:
        lines = lines[:span[0]] + lines[span[1] + 1:]
    restoring = False
    for i, line in enumerate(lines):
        if line.startswith(DISABLED):
            kw = _keyword(line[len(DISABLED):])
            if kw and kw[0] == "host":
                restoring = alias in host_patterns(kw[1])
            if restoring:
                lines[i] = line[len(DISABLED):]
        elif line.strip():
            restoring = False
    return "".join(lines)


def managed_text(text: str, alias: str) -> str | None:
    lines = text.splitlines(keepends=True)
    span = find_managed(lines, alias)
    return None if span is None else "".join(lines[span[0]:span[1] + 1])


def _as_ssh_prints(host: str) -> str:
    """ssh -G shows numeric hosts such as 127.1 as dotted quads (inet_aton rules)."""
    import socket

    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return host


def _has_port_line(text: str, alias: str) -> bool:
    lines = text.splitlines()
    span = find_managed(lines, alias)
    return span is not None and any(line.strip().startswith("Port ") for line in lines[span[0]:span[1]])


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")  # no newline translation: CRLF stays
    except UnicodeDecodeError:
        raise UsageError(_("{path} is not UTF-8 text; refusing to edit it").format(path=path)) from None


class SshConfig(Step):
    name = "ssh-config"
    title = _("ssh config block for the gateway alias")
    questions = (_common.ALIAS, _common.HOST, _common.USER, _common.PORT, _common.IDENTITY,
                 _common.LOCAL_PORT, _common.REMOTE_PORT)

    def preflight(self, ctx):
        path = _ssh.config_path(ctx)
        _common.check_editable(path)
        render_block(_values(ctx))  # a path ssh could not be told (the home's among them): refused now
        if not path.exists():
            return
        find_managed(_read(path).splitlines(), ctx.answer("alias"))  # damaged markers: stop now
        # As the key login's alias check asks it (-F only where the home is not ssh's own), so
        # that check, just before the login starts, has its answer already.
        result = _ssh.ssh_g(ctx, _ssh.ssh_command(ctx, "-G", ctx.answer("alias")))
        if not result.ok:  # ssh's first line names the file and line (the system-wide one may be at fault)
            why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[0]
            raise UsageError(_("ssh cannot read its configuration as it is: {why}; fix it first (nothing was "
                               "changed)").format(why=why))

    def plan(self, ctx):
        path = _ssh.config_path(ctx)
        old = _read(path) if path.exists() else ""
        values = _values(ctx)
        self._warn_same_port(ctx, old, values)
        new = new_config(old, values, lambda text: self._ask_replace(ctx, path, text))
        # (An unchanged file skips this: _check_effective below compares the port too.)
        if new != old and not _has_port_line(new, values["alias"]) and self._port_elsewhere(ctx, new, values["alias"]):
            new = new_config(old, values, lambda text: True, explicit_port=True)  # already asked
        if new == old:
            self._check_effective(ctx, values)
            return []
        return [WriteFile(path, new, mode=0o600, dir_mode=0o700)]

    @staticmethod
    def _warn_same_port(ctx, text: str, values: dict) -> None:
        """Another managed block (an earlier --alias) forwarding the same local port would make
        the two tunnels fight: say so (undo removes a block by alias)."""
        alias, forward = None, f"LocalForward 127.0.0.1:{values['local_port']} "
        for line in text.splitlines():
            if match := BEGIN_RE.match(line):
                alias = match.group(1)
            elif alias and alias != values["alias"] and line.strip().startswith(forward):
                ctx.ui.warn(_("the ssh config also has a managed block for {other} forwarding local port {port}; "
                              "only one tunnel can hold that port").format(other=alias, port=values["local_port"]))
            elif END_RE.match(line):
                alias = None

    @staticmethod
    def _port_elsewhere(ctx, text: str, alias: str) -> bool:
        """Would ssh pick another port than 22 for the alias (a Port in an Include'd file)?"""
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".ssh-config", encoding="utf-8") as candidate:
            candidate.write(text)
            candidate.flush()
            return _ssh.effective_config(ctx, alias, config_file=Path(candidate.name)).get("port") != ["22"]

    @staticmethod
    def _ask_replace(ctx, path: Path, block: str) -> bool:
        ctx.ui.warn(
            _("{path} already has a Host block for this alias that openclaw-remote did not write:").format(path=path)
        )
        ctx.ui.block(block, err=True)
        answer = ctx.confirm(_("Disable it (commented out, kept in the file) and use the wizard's block?"))
        if answer is None:
            raise UsageError(_("{path} already has your own Host block for this alias; "
                               "run interactively to replace it, or choose another --alias").format(path=path))
        return answer

    def verify(self, ctx):
        self._check_effective(ctx, _values(ctx))

    def undo(self, ctx):
        path = _ssh.config_path(ctx)
        if not path.exists():
            return []
        old = _read(path)
        alias = ctx.answer("alias")
        new = remove_block(old, alias)
        if new == old:
            return []
        # Only our own bytes go, so no backup is needed, unless someone wrote inside our block.
        backup = not self._block_is_ours(ctx, old, alias)
        if not new and str(files.real_path(path)) in ctx.state.created:
            return [RemoveFile(path, backup=backup)]  # the wizard created the file: it goes
        return [WriteFile(path, new, mode=0o600, backup=backup)]

    @staticmethod
    def _block_is_ours(ctx, text: str, alias: str) -> bool:
        block = managed_text(text, alias)
        newline = "\r\n" if text.splitlines(keepends=True)[0].endswith("\r\n") else "\n"
        try:
            values = _values(ctx)
        except UsageError:
            return False
        return block in (render_block(values, newline), render_block(values, newline, explicit_port=True))

    @staticmethod
    def _check_effective(ctx, v: dict) -> None:
        got = _ssh.effective_config(ctx, v["alias"])
        forward = f"[127.0.0.1]:{v['local_port']} [127.0.0.1]:{v['remote_port']}"
        same_port = [f for f in got.get("localforward", []) if f.split()[0].endswith(f":{v['local_port']}")]
        expected = {
            "hostname": _as_ssh_prints(v["host"]).lower(), "user": v["user"], "port": str(v["port"]),
            "exitonforwardfailure": "yes",
            **{key.lower(): value for key, value in KEEPALIVE.items()},
        }
        wrong = [f"{key} {got.get(key, ['-'])[0]} ≠ {value}"
                 for key, value in expected.items() if got.get(key, ["-"])[0].lower() != value.lower()]
        if same_port != [forward]:
            wrong.append(f"localforward {' / '.join(same_port) or '-'} ≠ {forward}")
        identities = got.get("identityfile", [])
        # ssh -G prints it unquoted, but with its %-tokens not yet expanded (so %% as written)
        if not identities or _common.expand(ctx, identities[0]) != _common.expand(
            ctx, v["identity"].replace("%", "%%")
        ):
            wrong.append(f"identityfile {identities[0] if identities else '-'} ≠ {v['identity']}")
        if wrong:
            raise StepFailed(
                _("ssh -G {alias} does not give the wizard's values: {wrong}").format(
                    alias=v["alias"], wrong="; ".join(wrong)),
                kept=_("Another part of your ssh config (an Include, or a Host/Match above the block) overrides them."),
            )


@hookimpl
def register_steps(register):
    register(SshConfig())


class ConfigBlockCheck(Check):
    name, step = "ssh-config", "ssh-config"
    title = _("ssh config block")

    def run(self, ctx):
        alias = ctx.answer("alias")
        path = _ssh.config_path(ctx)
        text = path.read_bytes().decode("utf-8", "replace") if path.exists() else ""
        try:
            if find_managed(text.splitlines(), alias) is None:
                return Health(
                    "fail",
                    _("no openclaw-remote block for {alias} in {path}").format(alias=alias, path=path),
                    advice=_(
                        "The block was removed from the ssh config (by hand, or by a dotfiles sync). "
                        "The running tunnel keeps going, but no new one can start. The fix writes the "
                        "block back at the top of the file; every other line is kept."
                    ),
                )
        except UsageError as exc:
            return Health("fail", str(exc), rerun=(),
                          advice=_("Only the wizard's markers are damaged; mend or delete the block by hand."))
        try:
            SshConfig._check_effective(ctx, _values(ctx))
        except StepFailed as failure:
            return Health("fail", failure.message,
                          advice=_("The block was edited by hand, or a line above it (Host, Match, Include) now "
                                   "overrides it. The fix writes the block again (your lines are kept) and checks "
                                   "with ssh -G; if something above still overrides it, the fix says what."))
        return Health("ok", _("block present; ssh -G {alias} gives its values").format(alias=alias))


@hookimpl
def register_checks(register):
    register(ConfigBlockCheck())
