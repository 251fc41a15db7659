"""Step ``ssh-key``: key login to the gateway machine (guide step 2).

Creates the key if needed, then copies it with the real ``ssh-copy-id`` driven by
pexpect: the host key fingerprint is shown and confirmed, the password is asked once
(hidden) and typed into ssh-copy-id, never put on a command line or in a file.
"""

from __future__ import annotations

import atexit
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from plugins import _agent, _common, _ssh
from wizard import Action, Check, Health, Question, RemoveFile, Step, StepFailed, UsageError, WriteFile, hookimpl, state
from wizard.i18n import _

PASSWORD_TRIES = 3
SHELL_EVALUATED = '"$`\\'  # what ssh-copy-id's eval'd strings cannot hold
# ssh-copy-id's bound, in the plan and in the run alike: ssh's ConnectTimeout, and how long we
# wait for each thing it says (a prompt, the result) before giving up on it.
COPY_TIMEOUT = 15

PASSWORD = Question("password", _("Password for your account on the remote machine (asked once, not stored)"),
                    secret=True, env="OPENCLAW_REMOTE_SSH_PASSWORD", upfront=False)
PASSPHRASE = Question("key_passphrase", _("Passphrase for the new ssh key (empty for none)"), secret=True,
                      default="", upfront=False,
                      help=_("A background tunnel can only use a key with a passphrase if your ssh agent holds it."))
ACCEPT_HOST_KEY = Question("accept_host_key", _("Trust this host key and continue connecting?"), confirm=True,
                           upfront=False, help=_("with --yes: accept an unknown host key (never a changed one)"))

# What ssh-copy-id and ssh print (field notes), in the order they are looked for.
HOST_KEY_PROMPT = r"continue connecting \(yes/no(/\[fingerprint\])?\)\?"
PASSWORD_PROMPT = r"(?i)password: ?$|'s password:"
PASSPHRASE_PROMPT = r"Enter passphrase for key"
RETRY = "Permission denied, please try again."
CHANGED = "REMOTE HOST IDENTIFICATION HAS CHANGED"
SKIPPED = "All keys were skipped"
ADDED = r"Number of key\(s\) added:\s*(\d+)"
FINAL_DENIED = r"Permission denied \("
ERRORS = (r"Connection refused|Could not resolve hostname|Name or service not known|No route to host|"
          r"Network is unreachable|timed out|ERROR: ")


def _is_copying(value) -> bool:
    """The record CopyKey keeps while ssh-copy-id runs (see CopyKey.perform)."""
    if not isinstance(value, dict):
        return False
    count = value.get("known_hosts_lines")
    return (state.is_text_list(value.get("scratch_before", [])) and state.is_text_list(value.get("host_names", []))
            and (count is None or (type(count) is int and count >= 0)))


def known_hosts(ctx) -> Path:
    return ctx.path(".ssh", "known_hosts")


def _key_path(ctx) -> Path:
    return _common.expand(ctx, ctx.answer("identity"))


def _copy_argv(ctx, key: Path, alias: str, new_key: bool = False) -> list[str]:
    # -f for a key made in this run: it cannot be on the remote yet, so ssh-copy-id's login trying
    # it first ("to filter out any that are already installed") would be a connection for nothing.
    return ["ssh-copy-id", *(["-f"] if new_key else []), "-i", str(key) + ".pub", *_ssh.isolation_options(ctx),
            *_ssh.NO_FORWARDS,
            "-o", f"ConnectTimeout={COPY_TIMEOUT}", alias]


def _destination(ctx, alias: str) -> str:
    """host:port as ssh will dial them (what the user recognises, rather than the alias)."""
    try:
        config = _ssh.effective_config(ctx, alias)
    except StepFailed:
        return alias
    return f"{config.get('hostname', [alias])[0]}:{config.get('port', ['22'])[0]}"


def probe_key_login(ctx, alias: str) -> tuple[bool, str, str]:
    """_ssh.key_login, saying what it waits for: an unreachable remote takes the whole bound."""
    return KeyLoginProbe(ctx, alias, trusting=False).outcome(ctx)[:3]


def _known_hosts_files(ctx, alias: str) -> list[str]:
    """The known-hosts files ssh reads for ``alias``: this home's own when it is not ssh's,
    else what ``ssh -G`` says (the user's config may name others)."""
    if not ctx.real_home:
        return [str(known_hosts(ctx))]
    try:
        return _ssh.effective_config(ctx, alias).get("userknownhostsfile", [str(known_hosts(ctx))])[0].split()
    except StepFailed:
        return [str(known_hosts(ctx))]


def _login_inputs(ctx) -> tuple[bytes | None, ...]:
    """What a key login's outcome depends on here: the ssh config and known_hosts as they are."""
    def read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None
    return read(_ssh.config_path(ctx)), read(known_hosts(ctx))


class KeyLoginProbe:
    """One BatchMode login proving key login, started at once so that it runs while the other
    checks go on (preflight starts it; plan takes its outcome).

    ``trusting`` (the user already said --accept-host-key): the same login also learns an unknown
    host key. ssh's ``StrictHostKeyChecking=accept-new`` trusts a key only for a host it knows no
    key for (a changed key still fails) and writes it to the first ``UserKnownHostsFile``: that
    first file is a scratch file of ours, the user's files follow it and are only read. The new
    lines reach known_hosts through TrustHostKey, an action like any other (a dry run writes nothing)."""

    def __init__(self, ctx, alias: str, trusting: bool):
        self.alias, self.inputs = alias, _login_inputs(ctx)
        self.scratch = None
        if trusting:
            import tempfile  # only here: a re-run's login, the common one, starts ~1 ms sooner

            self.scratch = Path(tempfile.mkdtemp(prefix="openclaw-remote-"))
        options: tuple[str, ...] = ()
        if self.scratch is not None:
            files = [str(self.scratch / "known_hosts"), *_known_hosts_files(ctx, alias)]
            options = ("-o", "StrictHostKeyChecking=accept-new",
                       "-o", "UserKnownHostsFile=" + " ".join(_ssh.config_arg(name) for name in files))
        self.started = _ssh.start_key_login(ctx, alias, options=options)
        atexit.register(self.cancel)  # a run stopped before plan: the scratch file goes too

    def still_answers(self, ctx, alias: str, trusting: bool) -> bool:
        """Was it started for what plan asks now (nothing it depends on changed since)?"""
        return alias == self.alias and trusting == (self.scratch is not None) and _login_inputs(ctx) == self.inputs

    def outcome(self, ctx) -> tuple[bool, str, str, list[str]]:
        """(ok, kind, explanation, host key lines learned), waiting for the login if need be."""
        try:
            with ctx.ui.waiting(_("checking that key login to {alias} works (up to {s:g} s)…").format(
                    alias=self.alias, s=_ssh.key_login_bound())):
                ok, kind, why = _ssh.key_login_outcome(self.started.result())
            learned = self.scratch / "known_hosts" if self.scratch is not None else None
            lines = learned.read_text(errors="replace").splitlines() if learned and learned.exists() else []
        finally:
            self.cancel()
        return ok, kind, why, [line for line in lines if line.strip()]

    def cancel(self) -> None:
        atexit.unregister(self.cancel)
        self.started.cancel()
        if self.scratch is not None:
            import shutil  # here and below: shutil only where something is removed

            shutil.rmtree(self.scratch, ignore_errors=True)


def key_scratch(key: Path) -> Path:
    return key.with_name(f".{key.name}.openclaw-new")


def scratch_dirs(ctx) -> list[str]:
    """ssh-copy-id's scratch directories (``mktemp -d ~/.ssh/ssh-copy-id.XXXXXXXXXX``) now."""
    folder = ctx.path(".ssh")
    return sorted(p.name for p in folder.glob("ssh-copy-id.*") if p.is_dir() and not p.is_symlink())


def new_scratch_dirs(ctx, before: list[str]) -> list[Path]:
    return [ctx.path(".ssh", name) for name in scratch_dirs(ctx) if name not in before]


def _known_host_names(ctx, alias: str) -> list[str]:
    """How ssh names the remote machine in known_hosts: ``host``, or ``[host]:port`` off port 22."""
    try:
        config = _ssh.effective_config(ctx, alias)
    except StepFailed:
        return []
    name = (config.get("hostkeyalias") or config.get("hostname") or [alias])[0]
    port = (config.get("port") or ["22"])[0]
    return [name if port == "22" else f"[{name}]:{port}"]


def _names_host(line: str, names: list[str]) -> bool:
    """Does this known_hosts line name one of ``names``, plainly or hashed (HashKnownHosts)?"""
    fields = line.split()
    return bool(fields) and any(_is_name(entry, name) for entry in fields[0].split(",") for name in names)


def _is_name(entry: str, name: str) -> bool:
    if not entry.startswith("|1|"):
        return entry == name
    import base64
    import binascii
    import hashlib
    import hmac

    try:  # |1|base64(salt)|base64(HMAC-SHA1(salt, name)), as ssh-keygen -H writes it
        salt, digest = (base64.b64decode(part) for part in entry[3:].split("|", 1))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


@dataclass(eq=False, repr=False)
class RemoveScratch(Action):
    """ssh-copy-id's scratch directory, left when it was killed at the password prompt."""

    path: Path

    def describe(self, ctx):
        return _("remove ssh-copy-id's scratch directory {path}").format(path=self.path) + "\n"

    def perform(self, ctx):
        if self.path.is_dir() and not self.path.is_symlink():
            import shutil

            shutil.rmtree(self.path)


@dataclass(eq=False, repr=False)
class TrustHostKey(Action):
    """Add the host key lines a trusting probe learned (and logged in with) to known_hosts,
    recorded first so that undo takes exactly these out again."""

    path: Path
    lines: list[str]

    def _write(self) -> WriteFile:
        old = WriteFile(self.path, "").old_text()
        new = [line for line in self.lines if line not in old.splitlines()]
        text = old + ("\n" if old and not old.endswith("\n") else "") + "".join(line + "\n" for line in new)
        return WriteFile(self.path, text, mode=0o600)

    def describe(self, ctx):
        return self._write().describe(ctx)

    def summary(self, ctx):
        return _("trust the remote host key in {path}").format(path=self.path)

    def perform(self, ctx):
        record = ctx.record
        ctx.remember(known_hosts_added=[*record.get("known_hosts_added", []), *self.lines],
                     known_hosts_created=record.get("known_hosts_created", not self.path.exists()))
        self._write().perform(ctx)


@dataclass(eq=False, repr=False)
class CreateKey(Action):
    path: Path

    def argv(self, ctx, target: Path | None = None) -> list[str]:
        comment = f"openclaw-remote@{ctx.answer('alias')}"
        return ["ssh-keygen", "-q", "-t", "ed25519", "-f", str(target or self.path), "-C", comment]

    def describe(self, ctx):
        return "$ " + shlex.join(self.argv(ctx)) + "    # " + _("asks for an optional passphrase") + "\n"

    def perform(self, ctx):
        ctx.make_dir(self.path.parent)
        passphrase = self._confirmed_passphrase(ctx)
        # ssh-keygen writes a scratch pair that is renamed into place, public half first: a
        # wizard killed midway leaves no private key without its .pub (a re-run makes a new one).
        scratch = key_scratch(self.path)
        for leftover in (scratch, Path(f"{scratch}.pub")):
            leftover.unlink(missing_ok=True)
        argv = self.argv(ctx, scratch)
        ctx.remember(generated_key=str(self.path))  # first: undo then knows the scratch pair is ours
        if not passphrase:
            result = ctx.run(argv + ["-N", ""])
            if not result.ok:
                raise StepFailed(_("ssh-keygen failed: {why}").format(why=result.stderr.strip()))
        else:
            self._keygen_with_passphrase(argv, passphrase, scratch)
        ctx.adopt(Path(f"{scratch}.pub"), 0o644)  # before the renames: the pair appears as it stays
        ctx.adopt(scratch, 0o600)
        os.replace(f"{scratch}.pub", f"{self.path}.pub")
        os.replace(scratch, self.path)

    @staticmethod
    def _keygen_with_passphrase(argv: list[str], passphrase: str, scratch: Path) -> None:
        # The passphrase is typed at ssh-keygen's prompt so that it never shows in `ps`.
        import pexpect

        child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=30)
        try:
            for prompt in (r"Enter passphrase.*: ", r"Enter same passphrase again: "):
                child.expect(prompt)
                child.sendline(passphrase)
            child.expect(pexpect.EOF)
        except pexpect.ExceptionPexpect:
            raise StepFailed(_("ssh-keygen did not ask for the passphrase as expected")) from None
        finally:
            child.close(force=True)
        if child.exitstatus != 0 or not scratch.exists():
            raise StepFailed(_("ssh-keygen failed: {why}").format(why=child.before.strip()))

    @staticmethod
    def _confirmed_passphrase(ctx) -> str:
        """Typed twice when asked interactively: a typo would make a key nobody can unlock."""
        if not ctx.answer_if_given("key_passphrase") and not _agent.reachable(ctx):
            ctx.ui.say("  " + _("no ssh agent is running, so the new key gets no passphrase: the background tunnel "
                                "could never unlock it (see 'Keys with a passphrase' in the user guide)"))
            return ""
        for _attempt in range(3):
            passphrase = ctx.answer("key_passphrase")
            if not passphrase or not ctx.interactive:
                return passphrase
            from wizard import prompts

            if prompts.secret(_("The same passphrase again"), optional=True) == passphrase:
                return passphrase
            ctx.ui.warn(_("the two passphrases differ; please type it again"))
            ctx.forget("key_passphrase")
        raise StepFailed(_("the passphrases did not match three times"), kept=_("No key was created."))


@dataclass(eq=False, repr=False)
class CopyKey(Action):
    path: Path
    alias: str
    # ssh-copy-id logged in with the key alone, without a passphrase ("All keys were skipped"):
    # that login proved what verify would prove again.
    proved_key_login: bool = False
    new_key: bool = False  # created in this run (see _copy_argv)

    def describe(self, ctx):
        return ("$ " + shlex.join(_copy_argv(ctx, self.path, self.alias, self.new_key)) + "    # "
                + _("asks for your password on the remote machine once; waits up to {s} s for each answer").format(
                    s=COPY_TIMEOUT) + "\n")

    def perform(self, ctx):
        import pexpect

        argv = _copy_argv(ctx, self.path, self.alias, self.new_key)
        connecting = _("connecting to {where} (up to {s} s)…").format(
            where=_destination(ctx, self.alias), s=COPY_TIMEOUT)
        known = known_hosts(ctx)
        before = known.read_text(errors="replace").splitlines() if known.exists() else None
        scratch_before = scratch_dirs(ctx)
        # Recorded before ssh-copy-id starts: a wizard killed at the password prompt leaves its
        # scratch directory and maybe a new known_hosts line, and undo finds both from this.
        ctx.remember(copying={"known_hosts_lines": None if before is None else len(before),
                              "host_names": _known_host_names(ctx, self.alias), "scratch_before": scratch_before})
        child = pexpect.spawn(argv[0], argv[1:], env=_ssh.child_env(ctx), encoding="utf-8", timeout=COPY_TIMEOUT,
                              dimensions=(24, 200))
        try:
            with ctx.ui.waiting(connecting) as wait:  # prompts inside hide its spinner while shown
                self._dialog(ctx, child, wait)
        finally:
            child.close(force=True)  # SIGHUP, which ssh-copy-id's cleanup trap does not catch:
            import shutil

            for leftover in new_scratch_dirs(ctx, scratch_before):  # so its scratch directory is ours to remove
                shutil.rmtree(leftover, ignore_errors=True)
            self._remember_new_host_keys(ctx, known, before)

    @staticmethod
    def _remember_new_host_keys(ctx, known: Path, before: list[str] | None) -> None:
        """The known_hosts lines ssh added when the host key was accepted: undo takes exactly these out."""
        after = known.read_text(errors="replace").splitlines() if known.exists() else []
        if before is None and known.exists():  # ssh made it: private, and the home owner's (root for them)
            ctx.adopt(known, 0o600)
        added = [line for line in after if line not in (before or [])]
        record = ctx.record
        found = dict(known_hosts_added=[*record.get("known_hosts_added", []), *added],
                     known_hosts_created=record.get("known_hosts_created", before is None)) if added else {}
        ctx.remember(copying=None, **found)

    def _dialog(self, ctx, child, wait) -> None:
        import pexpect

        copying = _("logging in and copying the key (up to {s} s)…").format(s=COPY_TIMEOUT)
        passwords_sent = 0
        passphrase_asked = False
        while True:
            index = child.expect([HOST_KEY_PROMPT, CHANGED, PASSPHRASE_PROMPT, RETRY, PASSWORD_PROMPT,
                                  SKIPPED, ADDED, FINAL_DENIED, ERRORS, pexpect.EOF, pexpect.TIMEOUT])
            if index == 0:
                self._confirm_host_key(ctx, child)
                wait.update(copying)
            elif index == 1:
                raise StepFailed(_ssh.explain(CHANGED)[1], kept=_("known_hosts was not touched."))
            elif index == 2:
                passphrase_asked = True
                child.sendline(ctx.answer("key_passphrase"))
            elif index == 3:
                # A password from OPENCLAW_REMOTE_SSH_PASSWORD/stdin would only be refused again.
                if not ctx.interactive or passwords_sent >= PASSWORD_TRIES or ctx.answer_if_given("password"):
                    raise StepFailed(_("the remote machine refused the password"),
                                     kept=_("No key was copied."))
                ctx.ui.warn(_("wrong password, please try again ({n} of {total})").format(
                    n=passwords_sent + 1, total=PASSWORD_TRIES))
                ctx.forget("password")  # ask afresh
            elif index == 4:
                if passwords_sent >= PASSWORD_TRIES:
                    raise StepFailed(_("the remote machine refused the password {n} times").format(n=passwords_sent),
                                     kept=_("No key was copied."))
                child.sendline(ctx.answer("password"))
                passwords_sent += 1
                wait.update(copying)
            elif index in (5, 6):
                child.expect(pexpect.EOF)
                # ssh-copy-id skips a key only when its own login with it alone worked; BatchMode
                # (the tunnel's) needs that to work without the passphrase too.
                self.proved_key_login = index == 5 and not passphrase_asked
                return
            elif index == 7:
                raise StepFailed(_("the remote machine refused the password {n} times").format(n=passwords_sent),
                                 kept=_("No key was copied."))
            elif index == 8:
                rest = child.after + self._rest(child)
                raise StepFailed(_ssh.explain(rest)[1], kept=_("No key was copied."))
            elif index == 9:
                raise StepFailed(_("ssh-copy-id stopped: {why}").format(why=_ssh.explain(child.before)[1]),
                                 kept=_("No key was copied."))
            else:
                raise StepFailed(_("ssh-copy-id did not answer within {s} s").format(s=COPY_TIMEOUT),
                                 kept=_("No key was copied."))

    @staticmethod
    def _rest(child) -> str:
        import pexpect

        try:
            child.expect(pexpect.EOF, timeout=5)
        except pexpect.TIMEOUT:
            pass
        return child.before or ""

    @staticmethod
    def _confirm_host_key(ctx, child) -> None:
        intro = child.before.strip().splitlines()
        ctx.ui.say(_("The remote machine presents this host key:"))
        for line in intro:
            if "fingerprint" in line or "authenticity" in line or "key" in line:
                ctx.ui.say("    " + line.strip())
        if ctx.answer("accept_host_key"):
            child.sendline("yes")
            return
        child.sendline("no")
        raise StepFailed(_("host key not accepted (pass --accept-host-key to accept it with --yes)"),
                         kept=_("known_hosts was not touched; no key was copied."))


# --- keys with a passphrase: the decision, and the agent (plugins/_agent.py) ---------------------

def _no_agent(ctx) -> str:
    return _("a key with a passphrase only works for the background tunnel through an ssh agent that holds it, "
             "and no agent answers on SSH_AUTH_SOCK")


def check_passphrase(ctx, key: Path) -> None:
    """Before the key is made or used: refuse what cannot work (a passphrase, and no agent to hold
    it), and say what will not last (an agent socket that ends with this login session)."""
    given = ctx.answer_if_given("key_passphrase")
    encrypted = key.exists() and _agent.is_encrypted(ctx, key)
    if not (encrypted or (given and not key.exists())):
        return
    if not _agent.reachable(ctx):
        start = _("start one ('eval \"$(ssh-agent)\"', or your desktop's) and run again") if ctx.platform != "darwin" \
            else _("macOS starts one for every login session: run the wizard from a Terminal window there")
        if encrypted:
            raise UsageError(_("{key} has a passphrase, and {why}; {start}, or use a key without one "
                               "(--identity)").format(key=key, why=_no_agent(ctx), start=start))
        raise UsageError(_("{why}: {start}, or give no passphrase").format(why=_no_agent(ctx), start=start))
    if encrypted and not ctx.interactive and not given and not _agent.holds(ctx, key):
        raise UsageError(_("{key} has a passphrase and your ssh agent does not hold it: add it with '{command}', or "
                           "set {env} for the wizard to add it").format(
            key=key, command=" ".join(_agent.add_argv(ctx, key)), env=PASSPHRASE.env_var))
    socket = _agent.socket_path(ctx) or ""
    if ctx.platform != "darwin" and _agent.per_session(socket):
        ctx.ui.warn(_("your ssh agent ({socket}) ends with this login session: after you log out, the tunnel's "
                      "service cannot use the key until an agent holds it again (a systemd ssh-agent.service or "
                      "your desktop's keyring agent lasts)").format(socket=socket))


def needs_adding(ctx, key: Path) -> bool:
    """An existing key with a passphrase that the agent does not hold yet."""
    return _agent.is_encrypted(ctx, key) and not _agent.holds(ctx, key)


@dataclass(eq=False, repr=False)
class AddKeyToAgent(Action):
    """``ssh-add`` for a key with a passphrase (``--apple-use-keychain`` on macOS); nothing for one without."""

    path: Path

    def describe(self, ctx):
        return ("$ " + shlex.join(_agent.add_argv(ctx, self.path)) + "    # "
                + _("only if the key has a passphrase: your ssh agent holds it for the background tunnel") + "\n")

    def perform(self, ctx):
        if not _agent.is_encrypted(ctx, self.path) or _agent.holds(ctx, self.path):
            return
        # The one typed for the new key a moment ago (CreateKey), or given by flag, variable or stdin:
        passphrase = ctx.resolver.values.get("key_passphrase") or ctx.answer_if_given("key_passphrase")
        if not passphrase and ctx.interactive:
            from wizard import prompts

            passphrase = prompts.secret(_("Passphrase of {key} (for your ssh agent)").format(key=self.path))
        if not passphrase:
            raise StepFailed(_("{key} has a passphrase: add it to your agent with '{command}'").format(
                key=self.path, command=shlex.join(_agent.add_argv(ctx, self.path))))
        ctx.add_secret(passphrase)
        _agent.add(ctx, self.path, passphrase)
        self._say_if_unnamed(ctx)

    def _say_if_unnamed(self, ctx) -> None:
        """A passphrase typed only now, after ssh-config wrote the block: on Linux the service's
        ssh finds the agent only once the block names it."""
        socket = _agent.custom_agent(ctx)
        if ctx.platform == "darwin" or not socket:
            return
        try:
            named = _ssh.effective_config(ctx, ctx.answer("alias")).get("identityagent", [])
        except StepFailed:
            return
        if socket not in named:
            ctx.ui.warn(_("the ssh config does not name your agent yet, so the tunnel's service would not find the "
                          "key: run 'openclaw-remote run ssh-config' once more"))

    def summary(self, ctx):
        return _("add {key} to the ssh agent").format(key=self.path)


class SshKey(Step):
    name = "ssh-key"
    title = _("key login to the remote machine (ssh-copy-id)")
    after = ("ssh-config",)
    questions = (_common.ALIAS, _common.IDENTITY, PASSWORD, PASSPHRASE, ACCEPT_HOST_KEY)
    record_fields = {"generated_key": state.is_text, "known_hosts_added": state.is_text_list,
                     "known_hosts_created": state.is_flag, "copying": lambda v: v is None or _is_copying(v)}
    _proved = False  # plan's probe logged in with the key (see verify)
    _copy: CopyKey | None = None  # the copy plan made, which may have proved key login itself
    _early: KeyLoginProbe | None = None  # the login preflight started for plan

    def preflight(self, ctx):
        key = _key_path(ctx)
        for path in (ctx.home, key):  # ssh-copy-id pastes both into shell code it evals (rm -rf "…" among it)
            unsafe = sorted({char for char in str(path) if char in SHELL_EVALUATED})
            if unsafe:
                raise UsageError(_("{path} contains {chars}: ssh-copy-id would read that as shell code, so the key "
                                   "cannot be copied from there; use a home and --identity without them").format(
                    path=path, chars=" ".join(unsafe)))
        _common.check_editable(key, Path(f"{key}.pub"), known_hosts(ctx))
        _ssh.isolation_options(ctx)  # a home ssh could not be told about: refused now
        check_passphrase(ctx, key)  # before the login starts: a key it refuses must not connect at all
        no_password = None
        if not key.exists() and not ctx.interactive and not ctx.answer_if_given("password"):
            no_password = _("a new key is copied to the remote machine with your password there, and nobody can be "
                            "asked for it: set {env} or pass --password-stdin").format(env=PASSWORD.env_var)
        # The login plan needs, under way while the remaining checks (this one's TCP check too) and
        # the other steps' run; only through an alias ssh already knows (else ssh would look the bare
        # alias up in DNS, or reach another machine). A run these checks stop ends it on exit.
        alias = ctx.answer("alias")
        self._cancel_early()  # one from an earlier run in this process that stopped before plan
        if key.exists() and _ssh.alias_configured(ctx, alias):
            self._early = KeyLoginProbe(ctx, alias, self._trusting(ctx))
        try:
            _ssh.check_reachable(ctx)
        except StepFailed as failure:  # both at once: fixing one must not reveal the other later
            raise StepFailed(failure.message + ("; " + _("and {problem}").format(problem=no_password)
                                                if no_password else "")) from None
        if no_password:
            raise UsageError(no_password)

    @staticmethod
    def _trusting(ctx) -> bool:
        """--accept-host-key given: one login both trusts an unknown host key and proves key login."""
        return bool(ctx.answer_if_given("accept_host_key"))

    def _cancel_early(self) -> None:
        if self._early is not None:
            self._early.cancel()
            self._early = None

    def _probe(self, ctx, alias: str) -> KeyLoginProbe:
        """The login preflight started, unless what it depends on changed since (ssh-config wrote
        the block): then a new one."""
        early, self._early = self._early, None
        trusting = self._trusting(ctx)
        if early is not None and early.still_answers(ctx, alias, trusting):
            return early
        if early is not None:
            early.cancel()
        return KeyLoginProbe(ctx, alias, trusting)

    def plan(self, ctx):
        key = _key_path(ctx)
        alias = ctx.answer("alias")
        actions = []
        self._proved, self._copy = False, None
        if not key.exists():
            actions += [CreateKey(key), AddKeyToAgent(key)]
        elif needs_adding(ctx, key):
            self._cancel_early()  # BatchMode cannot use the key before the agent holds it
            return [AddKeyToAgent(key), CopyKey(key, alias)]  # ssh-copy-id skips a key already there
        elif not (ctx.dry_run and self._early is None and not _ssh.alias_configured(ctx, alias)):
            ok, kind, why, learned = self._probe(ctx, alias).outcome(ctx)
            if ok:
                self._proved = True
                return [TrustHostKey(known_hosts(ctx), learned)] if learned else []
            if kind not in ("denied", "hostkey-unknown"):
                if ctx.dry_run:
                    ctx.ui.warn(_("cannot reach the remote machine now: {why}").format(why=why))
                else:
                    raise StepFailed(why, kept=_("No key was copied."))
        self._cancel_early()  # not needed after all
        if not Path(str(key) + ".pub").exists() and key.exists():
            raise StepFailed(_("{path}.pub is missing: the public half of the key is needed to copy it").format(
                path=key))
        actions.append(CopyKey(key, alias, new_key=not key.exists()))
        self._copy = actions[-1]
        return actions

    def verify(self, ctx):
        if self._proved or (self._copy is not None and self._copy.proved_key_login):
            return  # one login already proved it, in this run: no second one
        ok, _kind, why = probe_key_login(ctx, ctx.answer("alias"))
        if not ok:
            raise StepFailed(_("key login still does not work after copying the key: {why}").format(why=why))

    def undo(self, ctx):
        """The host key lines setup added go; the key itself is never deleted (it may log in elsewhere).
        What a killed run left goes too: ssh-keygen's scratch pair, ssh-copy-id's scratch directory."""
        key = _key_path(ctx)
        actions = [*self._unfinished_key(ctx, key), *self._unfinished_copy(ctx)]
        if ctx.record.get("generated_key") and key.exists():
            ctx.ui.say("  " + _("kept the key setup generated: {path} (and {path}.pub); delete it yourself if you "
                                "no longer want it").format(path=key))
        if key.exists():
            ctx.ui.say("  " + _("the key stays authorized on the remote machine: to revoke it, remove the line "
                                "ending in 'openclaw-remote@{alias}' from ~/.ssh/authorized_keys there").format(
                alias=ctx.answer("alias")))
        path = known_hosts(ctx)
        if not path.exists():
            return actions
        text = path.read_bytes().decode("utf-8", "replace")
        lines = text.splitlines(keepends=True)
        # Only lines naming the remote machine, even when the record says more: a hand-edited state
        # must not make undo delete the user's other host keys.
        names = [*(ctx.record.get("copying") or {}).get("host_names", []), *_known_host_names(ctx, ctx.answer("alias"))]
        recorded = {line for line in ctx.record.get("known_hosts_added") or [] if _names_host(line, names)}
        added = recorded | self._added_by_unfinished_copy(ctx, lines)
        kept = "".join(line for line in lines if line.rstrip("\r\n") not in added)
        if kept == text:
            return actions
        copying = ctx.record.get("copying") or {}
        if not kept and (ctx.record.get("known_hosts_created") or copying.get("known_hosts_lines", 0) is None):
            return [*actions, RemoveFile(path, backup=False)]  # ssh created it when setup accepted the host key
        return [*actions, WriteFile(path, kept, mode=0o600, backup=False)]  # only the lines setup added go

    @staticmethod
    def _unfinished_key(ctx, key: Path) -> list:
        """A key generation that was killed: its scratch pair, or a .pub renamed without its private half."""
        if ctx.record.get("generated_key") != str(key) or not state.inside(key, ctx.home):
            return []  # a key elsewhere (or a hand-edited record) is never touched
        scratch = key_scratch(key)
        leftovers = [p for p in (scratch, Path(f"{scratch}.pub")) if p.exists()]
        if not key.exists() and Path(f"{key}.pub").exists():
            leftovers.append(Path(f"{key}.pub"))
        return [RemoveFile(p, backup=False) for p in leftovers]

    @staticmethod
    def _unfinished_copy(ctx) -> list:
        copying = ctx.record.get("copying")
        if not copying:
            return []
        return [RemoveScratch(p) for p in new_scratch_dirs(ctx, copying.get("scratch_before", []))]

    @staticmethod
    def _added_by_unfinished_copy(ctx, lines: list[str]) -> set[str]:
        """Lines for the remote machine that ssh appended during a copy that never finished."""
        copying = ctx.record.get("copying")
        if not copying:
            return set()
        start = copying.get("known_hosts_lines") or 0
        return {line.rstrip("\r\n") for line in lines[start:] if _names_host(line, copying.get("host_names", []))}


@hookimpl
def register_steps(register):
    register(SshKey())


class KeyLoginCheck(Check):
    name, step = "key-login", "ssh-key"
    title = _("key login (BatchMode)")
    CONNECT_TIMEOUT = 3
    bound = _ssh.key_login_bound(CONNECT_TIMEOUT)

    def run(self, ctx):
        ok, kind, why = _ssh.key_login(ctx, ctx.answer("alias"), timeout=self.CONNECT_TIMEOUT)
        if ok:
            return Health("ok", _("works without a password"))
        if kind == "denied":
            return Health("fail", why, {"kind": kind},
                          advice=_("The remote machine no longer accepts your key (it was removed from "
                                   "~/.ssh/authorized_keys there, or the account changed). The fix copies the key "
                                   "again with ssh-copy-id: it asks for your password on the remote machine once "
                                   "(without a terminal: OPENCLAW_REMOTE_SSH_PASSWORD with --yes)."))
        if kind == "hostkey-unknown":
            return Health("fail", why, {"kind": kind},
                          advice=_("The remote host key is not in known_hosts. The fix shows it for you to confirm."))
        unreachable = kind in ("refused", "dns", "no-route", "timeout")
        return Health("fail", why, {"kind": kind}, rerun=(), advice=_(
            "Nothing on this computer can mend that: the remote machine must be reachable (on, awake, on a network you "
            "can reach) with sshd running. Then run 'openclaw-remote doctor' again.") if unreachable else "")


@hookimpl
def register_checks(register):
    register(KeyLoginCheck())
