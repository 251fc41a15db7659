"""Property-based tests for ``plugins.ssh_config.new_config``, with the real ``ssh -G`` as oracle.

Hypothesis generates ssh configs (global options, ``Host`` and ``Match`` blocks, ``Include``
lines pointing at generated files, comments, blank lines, ``Key=value`` / ``Key value``
spellings, mixed indentation, LF or CRLF, with or without a trailing newline, sometimes the
user's own ``Host <alias>`` block). For each one we check what ``ssh -G -F FILE HOST`` says
before and after the edit:

1. our alias gets our values (hostname, user, port, first identityfile, exactly one
   ``localforward [127.0.0.1]:L [127.0.0.1]:R``, exitonforwardfailure, keep-alives);
2. every other host's effective config is byte-for-byte unchanged;
3. the user's text is kept: for a file without our block, ``new == block + old`` (``old`` with
   the ``#openclaw-remote-disabled# `` prefix on the non-blank lines of a hand-written
   ``Host <alias>`` block the user agreed to replace, and only there); for a file with our
   block, every byte outside the markers is unchanged;
4. a re-run is byte-identical; a run with other values replaces the block in place;
5. two aliases coexist, each with its own values.

``new_config`` reads only the text it is given; whether an Include'd file sets a Port that
reaches the alias is for its caller to find out and pass as ``explicit_port=True``. Generated
configs draw that flag, and only those with it set have Include'd files that set Port where it
could reach the alias.

``ssh -G`` never connects; ``-F`` keeps the real ``~/.ssh/config`` and ``/etc/ssh/ssh_config``
out of it. Every path given to ssh is absolute and lives in a temporary directory.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from plugins import _common
from plugins.ssh_config import BEGIN, DISABLED, END, new_config, render_block
from wizard.answers import UsageError

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")

# Hypothesis keeps caches in ./.hypothesis by default: keep them out of the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "openclaw-remote-hypothesis")

# A file-local hypothesis profile: no example database (it would write .hypothesis/ into the
# repository), no deadline (ssh -G is a subprocess, its timing varies on a loaded machine).
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]  # no slow "explain" phase
SSH_SETTINGS = settings(max_examples=60, deadline=None, database=None, phases=PHASES,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PURE_SETTINGS = settings(max_examples=150, deadline=None, database=None, phases=PHASES,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Literal names the generated configs talk about; our aliases are never one of them.
OTHER_NAMES = ["alpha", "build.example", "db-1", "git.internal", "jump_host", "10.0.0.7"]
UNNAMED = "unrelated.example"


# --------------------------------------------------------------------------- ssh -G oracle

def ssh_g(config: Path, host: str) -> str:
    result = subprocess.run(["ssh", "-G", "-F", str(config), host], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, f"ssh -G {host} rejected {config}:\n{result.stderr}\n{config.read_text()}"
    return result.stdout


_POOL = ThreadPoolExecutor(max_workers=4)


def ssh_g_many(config: Path, hosts) -> dict[str, str]:
    hosts = list(dict.fromkeys(hosts))
    return dict(zip(hosts, _POOL.map(lambda h: ssh_g(config, h), hosts)))


def parse(output: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, _sep, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value)
    return values


def ssh_hostname(host: str) -> str:
    """How ssh -G prints a HostName: lowercased, and a number inet_aton accepts ("127.1",
    "0x7f.1", "10") in dotted-quad form."""
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return host.lower()


def assert_alias_gets(output: str, v: dict) -> None:
    got = parse(output)
    assert got["hostname"] == [ssh_hostname(v["host"])]
    assert got["user"] == [v["user"]]
    assert got["port"] == [str(v["port"])]
    assert got["identityfile"][0] == v["identity"]
    forward = f"[127.0.0.1]:{v['local_port']} [127.0.0.1]:{v['remote_port']}"
    assert got.get("localforward", []).count(forward) == 1, got.get("localforward")
    assert got["exitonforwardfailure"] == ["yes"]
    assert got["serveraliveinterval"] == ["15"]
    assert got["serveralivecountmax"] == ["3"]


# --------------------------------------------------------------------------- text helpers

def marker_lines(alias: str) -> tuple[str, str]:
    return BEGIN.format(alias=alias), END.format(alias=alias)


def split_at_block(text: str, alias: str) -> tuple[str, str, str]:
    """(before, block, after) around the one managed block for ``alias``; asserts it is unique."""
    begin, end = marker_lines(alias)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == begin]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == end]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], (starts, ends)
    s, e = starts[0], ends[0]
    return "".join(lines[:s]), "".join(lines[s:e + 1]), "".join(lines[e + 1:])


def never_called(block: str) -> bool:
    raise AssertionError(f"replace_hand_written called although no hand-written block is left:\n{block}")


def yes(_block: str) -> bool:
    return True


# --------------------------------------------------------------------------- generators

word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?\Z")
hosts = st.one_of(
    st.lists(label, min_size=1, max_size=3).map(".".join),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,10}\.[A-Za-z]{2,4}\Z"),
).filter(lambda h: _is_valid(_common.host, h))
users = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.@-]{0,10}\Z").filter(lambda u: _is_valid(_common.user, u))
aliases = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\Z").filter(
    lambda a: _is_valid(_common.alias, a) and a not in OTHER_NAMES and a != UNNAMED)
ports = st.one_of(st.just(22), st.integers(1, 65535))
identities = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8),
                      min_size=1, max_size=3).map(lambda parts: "/keys/" + "/".join(parts) + "/id_test")


def _is_valid(validator, value) -> bool:
    try:
        return validator(value) == value
    except ValueError:
        return False


@st.composite
def values(draw, alias=None):
    return {
        "alias": alias if alias is not None else draw(aliases),
        "host": draw(hosts), "user": draw(users), "port": draw(ports),
        "identity": draw(identities),
        "local_port": draw(st.integers(1, 65535)), "remote_port": draw(st.integers(1, 65535)),
    }


indent = st.sampled_from(["", "", "  ", "    ", "\t", " \t", "\t  "])
separator = st.sampled_from([" ", " ", "=", " = ", "\t", "  ", "= "])
yes_no = st.sampled_from(["yes", "no"])


def keyword(name: str):
    return st.sampled_from([name, name, name.lower(), name.upper()])


def option(name: str, value):
    @st.composite
    def line(draw):
        return f"{draw(indent)}{draw(keyword(name))}{draw(separator)}{draw(value)}"
    return line()


PORT_OPTION = option("Port", st.integers(1, 65535).map(str))
GLOBAL_SAFE = [
    PORT_OPTION,
    option("User", users),
    option("IdentityFile", identities),
    option("ServerAliveInterval", st.integers(0, 300).map(str)),
    option("ServerAliveCountMax", st.integers(1, 10).map(str)),
    option("Compression", yes_no),
    option("ForwardAgent", yes_no),
    option("ConnectTimeout", st.integers(1, 60).map(str)),
    option("ExitOnForwardFailure", yes_no),
    option("IdentitiesOnly", yes_no),
    option("BatchMode", yes_no),
    option("StrictHostKeyChecking", st.sampled_from(["yes", "no", "accept-new", "ask"])),
]
# new_config() reads only the text it is given: a Port in an Include'd file that applies to the
# alias is the caller's to find (SshConfig.plan asks ssh -G) and to pass as explicit_port=True.
# So Include'd files that may apply to the alias set Port only in configs generated with
# explicit_port=True.
NO_PORT = [s for s in GLOBAL_SAFE if s is not PORT_OPTION]
forward_spec = st.tuples(st.sampled_from(["", "127.0.0.1:", "localhost:"]), st.integers(1, 65535),
                         st.sampled_from(["127.0.0.1", "localhost", "db"]), st.integers(1, 65535)).map(
    lambda t: f"{t[0]}{t[1]} {t[2]}:{t[3]}")
NAMED_ONLY = [option("HostName", hosts), option("LocalForward", forward_spec)]

comment = st.builds(lambda ind, hashes, text: f"{ind}{hashes}{text}", indent,
                    st.sampled_from(["#", "# ", "## "]),
                    st.text("abcdefghijklmnopqrstuvwxyz ABC=:.,*-_", max_size=30))
blank = st.sampled_from(["", "", "   ", "\t"])


def edit(spec: "Spec", old: str, v: dict, replace_hand_written) -> str:
    return new_config(old, v, replace_hand_written, explicit_port=spec.explicit_port)


@dataclass
class Spec:
    """A generated config: (line, is_in_hand_written_alias_block) pairs, before Include paths are filled in."""
    lines: list[tuple[str, bool]]
    explicit_port: bool                # what the caller passes to new_config (see NO_PORT)
    newline: str
    trailing_newline: bool
    includes: list[list[str]]          # contents of the Include'd files, by index
    names: set[str] = field(default_factory=set)

    def materialize(self, directory: Path) -> tuple[str, str]:
        """Write the Include'd files; return (old text, old text with the hand-written block disabled)."""
        for i, body in enumerate(self.includes):
            (directory / f"inc{i}.conf").write_text("".join(line + "\n" for line in body))
        return self.render(directory)

    def render(self, directory: Path) -> tuple[str, str]:
        """The texts of ``materialize`` without writing anything (for tests that run no ssh)."""
        old, disabled = [], []
        for n, (line, mine) in enumerate(self.lines):
            line = re.sub(r"@INC(\d+)@", lambda m: str(directory / f"inc{m.group(1)}.conf"), line)
            line = line.replace("@DIR@", str(directory))
            end = self.newline if n < len(self.lines) - 1 or self.trailing_newline else ""
            old.append(line + end)
            disabled.append((DISABLED if mine and line.strip() else "") + line + end)
        return "".join(old), "".join(disabled)


@st.composite
def configs(draw, alias: str | None = None, hand_written: bool = True):
    """An ssh config; with ``alias``, sometimes also the user's own ``Host <alias>`` block."""
    includes: list[list[str]] = []
    names: set[str] = set()
    explicit_port = draw(st.booleans())

    def include_line(never_alias: bool) -> str:
        # An Include in a block that can never apply to the alias may set anything.
        options = GLOBAL_SAFE if never_alias or explicit_port else NO_PORT
        includes.append(draw(st.lists(st.one_of(*options, comment, blank), max_size=4)))
        target = draw(st.sampled_from([f"@INC{len(includes) - 1}@"] * 3 + ["@DIR@/missing-*.conf"]))
        return f"{draw(indent)}{draw(keyword('Include'))}{draw(separator)}{target}"

    def body(extra=(), never_alias=False) -> list[str]:
        kinds = st.sampled_from(["option"] * 4 + ["comment", "blank", "include"])
        lines = []
        for kind in draw(st.lists(kinds, max_size=5)):
            if kind == "option":
                lines.append(draw(st.one_of(*GLOBAL_SAFE, *extra)))
            elif kind == "comment":
                lines.append(draw(comment))
            elif kind == "blank":
                lines.append(draw(blank))
            else:
                lines.append(include_line(never_alias))
        return lines

    def header(word_: str, patterns: str) -> str:
        return f"{draw(indent)}{draw(keyword(word_))}{draw(separator)}{patterns}"

    lines: list[tuple[str, bool]] = [(line, False) for line in body()]  # global lines
    hand_written_left = hand_written and alias is not None
    for kind in draw(st.lists(st.sampled_from(
            ["host*", "host", "host", "wild", "matchall", "matchhost", "matchuser", "mine"]), max_size=6)):
        mine = False
        if kind == "host*":
            head, extra = header("Host", "*"), ()
        elif kind == "host":
            chosen = draw(st.lists(st.sampled_from(OTHER_NAMES), min_size=1, max_size=2, unique=True))
            names.update(chosen)
            head, extra = header("Host", " ".join(chosen)), NAMED_ONLY
        elif kind == "wild":
            head = header("Host", draw(st.sampled_from(["*.example", "* !alpha", "db-* git.*", "*.internal"])))
            extra = ()
        elif kind == "matchall":
            head, extra = header("Match", "all"), ()
        elif kind == "matchhost":
            chosen = draw(st.lists(st.sampled_from(OTHER_NAMES), min_size=1, max_size=2, unique=True))
            names.update(chosen)
            head, extra = header("Match", "host " + ",".join(chosen)), ()
        elif kind == "matchuser":
            head, extra = header("Match", "user " + draw(users)), ()
        elif hand_written_left:  # "mine": the user's own Host <alias> block
            hand_written_left, mine = False, True
            head, extra = header("Host", alias), NAMED_ONLY
        else:
            continue
        lines.append((head, mine))
        # Only literal Host blocks naming other hosts (and the one that gets disabled) never apply
        # to the alias: Match host/user and wildcard patterns may.
        lines += [(line, mine) for line in body(extra, never_alias=kind in ("host", "mine"))]
    newline = draw(st.sampled_from(["\n", "\n", "\n", "\r\n"]))
    return Spec(lines, explicit_port, newline, draw(st.booleans()), includes, names)


@st.composite
def scenarios(draw, n_aliases: int = 1, hand_written: bool = True):
    alias_list = draw(st.lists(aliases, min_size=n_aliases, max_size=n_aliases, unique=True))
    spec = draw(configs(alias=alias_list[0], hand_written=hand_written))
    return spec, [draw(values(alias=a)) for a in alias_list]


def others(spec: Spec) -> list[str]:
    return sorted(spec.names)[:4] + [UNNAMED]


# --------------------------------------------------------------------------- properties

@SSH_SETTINGS
@given(scenarios())
def test_new_block_gives_alias_our_values_and_keeps_everything_else(scenario):
    spec, (v,) = scenario
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        old, old_disabled = spec.materialize(directory)
        config = directory / "config"
        config.write_text(old, newline="")
        before = ssh_g_many(config, others(spec))

        new = edit(spec, old, v, yes)
        config.write_text(new, newline="")
        after = ssh_g_many(config, [v["alias"], *others(spec)])

        # 1. our alias gets our values
        assert_alias_gets(after.pop(v["alias"]), v)
        # 2. every other host is exactly as before
        assert after == before
        # 3. new == our block + the old text (the hand-written alias block, if any, disabled)
        head, block, tail = split_at_block(new, v["alias"])
        assert head == ""
        assert tail == old_disabled
        # the block uses the file's line ending (that of its first line; LF for an empty file)
        newline = (
            "\r\n" if old.splitlines(keepends=True)[:1] and old.splitlines(keepends=True)[0].endswith("\r\n") else "\n"
        )
        assert block.endswith(END.format(alias=v["alias"]) + newline)
        if newline == "\r\n":
            assert block.count("\r\n") == block.count("\n")
        else:
            assert "\r" not in block
        if spec.explicit_port:
            assert f"    Port {v['port']}" in block.splitlines()
        # 4a. a second run changes nothing and has no hand-written block left to ask about
        assert edit(spec, new, v, never_called) == new


@SSH_SETTINGS
@given(scenarios(), st.data())
def test_changed_values_replace_the_block_in_place(scenario, data):
    spec, (v1,) = scenario
    v2 = data.draw(values(alias=v1["alias"]).filter(lambda v: v != v1), label="changed values")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        old, _ = spec.materialize(directory)
        config = directory / "config"
        config.write_text(old, newline="")
        before = ssh_g_many(config, others(spec))

        first = edit(spec, old, v1, yes)
        second = edit(spec, first, v2, never_called)
        config.write_text(second, newline="")
        after = ssh_g_many(config, [v2["alias"], *others(spec)])

        assert_alias_gets(after.pop(v2["alias"]), v2)
        assert after == before
        head1, _block1, tail1 = split_at_block(first, v1["alias"])
        head2, _block2, tail2 = split_at_block(second, v2["alias"])  # still one pair of markers
        assert (head2, tail2) == (head1, tail1)
        assert edit(spec, second, v2, never_called) == second
        assert edit(spec, second, v1, never_called) == first  # and back again


@SSH_SETTINGS
@given(scenarios(n_aliases=2))
def test_two_aliases_coexist(scenario):
    spec, (va, vb) = scenario
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        old, old_disabled = spec.materialize(directory)
        config = directory / "config"
        config.write_text(old, newline="")
        before = ssh_g_many(config, others(spec))

        with_a = edit(spec, old, va, yes)
        both = edit(spec, with_a, vb, never_called)
        config.write_text(both, newline="")
        after = ssh_g_many(config, [va["alias"], vb["alias"], *others(spec)])

        assert_alias_gets(after.pop(va["alias"]), va)
        assert_alias_gets(after.pop(vb["alias"]), vb)
        assert after == before
        head_b, block_b, rest = split_at_block(both, vb["alias"])
        assert head_b == "" and rest == with_a
        head_a, _block_a, tail_a = split_at_block(both, va["alias"])
        assert head_a == block_b and tail_a == old_disabled
        # re-running either alias changes nothing
        assert edit(spec, both, va, never_called) == both
        assert edit(spec, both, vb, never_called) == both


@PURE_SETTINGS
@given(scenarios(hand_written=False), st.data())
def test_update_in_place_wherever_the_block_is(scenario, data):
    """The block may have been moved by hand: a re-run with other values keeps every byte
    outside the markers, and leaves exactly one pair of markers."""
    spec, (v1,) = scenario
    v2 = data.draw(values(alias=v1["alias"]), label="new values")
    old, _ = spec.render(Path("/nonexistent-include-dir"))
    lines = old.splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)), label="block position")
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += spec.newline
    moved = "".join(lines[:at]) + render_block(v1, spec.newline) + "".join(lines[at:])

    updated = edit(spec, moved, v2, never_called)
    head, block, tail = split_at_block(updated, v2["alias"])
    assert (head, tail) == split_at_block(moved, v1["alias"])[::2]
    assert "".join(lines[:at]) == head and "".join(lines[at:]) == tail
    assert f"Host {v2['alias']}" in block.splitlines()
    assert edit(spec, updated, v2, never_called) == updated


@PURE_SETTINGS
@given(scenarios(hand_written=False), st.data())
def test_host_line_naming_alias_and_other_hosts_is_refused(scenario, data):
    spec, (v,) = scenario
    old, _ = spec.render(Path("/nonexistent-include-dir"))
    lines = old.splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)), label="position")
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += spec.newline
    patterns = data.draw(st.permutations([v["alias"], data.draw(st.sampled_from(OTHER_NAMES))]))
    lines.insert(at, f"Host {' '.join(patterns)}{spec.newline}")
    asked = []
    with pytest.raises(UsageError) as caught:
        new_config("".join(lines), v, lambda block: asked.append(block) or True)
    assert asked == []
    assert str(at + 1) in str(caught.value)


# --------------------------------------------------------------------------- examples

V = {"alias": "remote-gateway", "host": "gw.example", "user": "alice", "port": 22,
     "identity": "/keys/id_test", "local_port": 18789, "remote_port": 18789}


def effective(text: str, *hosts_: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config"
        config.write_text(text, newline="")
        return ssh_g_many(config, hosts_)


def test_global_port_does_not_reach_alias_on_port_22():
    old = "Port 2200\nServerAliveInterval 60\n"
    new = new_config(old, V, yes)
    assert "    Port 22\n" in new.splitlines(keepends=True)
    assert split_at_block(new, V["alias"])[::2] == ("", old)
    got = effective(new, V["alias"], UNNAMED)
    assert_alias_gets(got[V["alias"]], V)
    assert parse(got[UNNAMED])["port"] == ["2200"]
    assert parse(got[UNNAMED])["serveraliveinterval"] == ["60"]


def test_no_port_line_written_when_nothing_sets_one():
    new = new_config("Compression yes\n", V, yes)
    assert not any(line.strip().lower().startswith("port") for line in new.splitlines())
    assert_alias_gets(effective(new, V["alias"])[V["alias"]], V)


def test_host_star_with_user_before_anything():
    old = "Host *\n    User x\n    IdentityFile /keys/other\n"
    new = new_config(old, V, yes)
    assert new.split(END.format(alias=V["alias"]) + "\n", 1)[1] == old
    got = effective(new, V["alias"], UNNAMED)
    assert_alias_gets(got[V["alias"]], V)
    assert parse(got[V["alias"]])["identityfile"][:2] == ["/keys/id_test", "/keys/other"]
    assert parse(got[UNNAMED])["user"] == ["x"]


def test_crlf_file_gets_a_crlf_block():
    old = "Port 2200\r\nHost alpha\r\n  User bob\r\n"
    new = new_config(old, V, yes)
    _head, block, tail = split_at_block(new, V["alias"])
    assert tail == old
    assert block.count("\r\n") == block.count("\n") == len(block.splitlines())
    got = effective(new, V["alias"], "alpha")
    assert_alias_gets(got[V["alias"]], V)
    assert parse(got["alpha"])["user"] == ["bob"] and parse(got["alpha"])["port"] == ["2200"]
    assert new_config(new, V, never_called) == new


def test_file_without_trailing_newline():
    old = "Host alpha\n  User bob"
    new = new_config(old, V, yes)
    assert new.endswith(END.format(alias=V["alias"]) + "\n" + old)
    got = effective(new, V["alias"], "alpha")
    assert_alias_gets(got[V["alias"]], V)
    assert parse(got["alpha"])["user"] == ["bob"]
    assert new_config(new, V, never_called) == new


def test_empty_file():
    new = new_config("", V, yes)
    assert split_at_block(new, V["alias"])[::2] == ("", "")
    assert_alias_gets(effective(new, V["alias"])[V["alias"]], V)


def test_damaged_block_is_refused():
    begin, _end = marker_lines(V["alias"])
    old = f"Compression yes\n{begin}\nHost {V['alias']}\n    HostName old.example\nHost alpha\n  User bob\n"
    with pytest.raises(UsageError) as caught:
        new_config(old, V, yes)
    assert "2" in str(caught.value)  # the line of the begin marker


def test_begin_marker_followed_by_another_alias_block_is_refused():
    first = render_block({**V, "alias": "other-gw"})
    begin, _end = marker_lines(V["alias"])
    with pytest.raises(UsageError):
        new_config(f"{begin}\n{first}", V, yes)


def test_hand_written_block_is_disabled_only_with_consent():
    old = ("Host remote-gateway\n    HostName old.example\n\n    LocalForward 18789 127.0.0.1:18789\n"
           "Host alpha\n  User bob\n")
    shown = []
    with pytest.raises(UsageError):
        new_config(old, V, lambda block: shown.append(block) or False)
    assert shown == ["Host remote-gateway\n    HostName old.example\n\n    LocalForward 18789 127.0.0.1:18789\n"]
    new = new_config(old, V, yes)
    assert split_at_block(new, V["alias"])[2] == (
        f"{DISABLED}Host remote-gateway\n{DISABLED}    HostName old.example\n\n"
        f"{DISABLED}    LocalForward 18789 127.0.0.1:18789\nHost alpha\n  User bob\n")
    got = effective(new, V["alias"], "alpha")
    assert_alias_gets(got[V["alias"]], V)
    assert len(parse(got[V["alias"]])["localforward"]) == 1


def test_multi_pattern_host_line_is_refused():
    old = "Host other remote-gateway\n    HostName old.example\n"
    asked = []
    with pytest.raises(UsageError) as caught:
        new_config(old, V, lambda block: asked.append(block) or True)
    assert asked == [] and "remote-gateway" in str(caught.value)


def test_port_from_global_include_with_explicit_port():
    """new_config() sees only the text it is given; a Port in an Include'd file is the caller's
    to detect, and explicit_port=True must then pin the alias to its port (22 here)."""
    with tempfile.TemporaryDirectory() as tmp:
        included = Path(tmp) / "inc.conf"
        included.write_text("Port 2200\n")
        old = f"Include {included}\n"
        new = new_config(old, V, never_called, explicit_port=True)
        assert "    Port 22\n" in new.splitlines(keepends=True)
        assert split_at_block(new, V["alias"])[::2] == ("", old)
        assert new_config(new, V, never_called, explicit_port=True) == new
        config = Path(tmp) / "config"
        config.write_text(new)
        got = ssh_g_many(config, [V["alias"], UNNAMED])
        assert_alias_gets(got[V["alias"]], V)
        assert parse(got[UNNAMED])["port"] == ["2200"]


def test_trailing_comment_on_own_host_line_is_a_hand_written_block():
    old = "Host remote-gateway # my gateway\n    HostName old.example\n"
    assert parse(effective(old, V["alias"])[V["alias"]])["hostname"] == ["old.example"]  # ssh: it is the alias's block
    new = new_config(old, V, yes)
    assert (
        split_at_block(new, V["alias"])[2]
        == f"{DISABLED}Host remote-gateway # my gateway\n{DISABLED}    HostName old.example\n"
    )
    assert_alias_gets(effective(new, V["alias"])[V["alias"]], V)


def test_alias_only_in_a_trailing_comment_is_not_a_pattern():
    old = "Host alpha # not remote-gateway\n    User bob\n"
    assert parse(effective(old, "alpha")["alpha"])["user"] == ["bob"]
    new = new_config(old, V, never_called)
    assert split_at_block(new, V["alias"])[::2] == ("", old)
    got = effective(new, V["alias"], "alpha")
    assert_alias_gets(got[V["alias"]], V)
    assert parse(got["alpha"])["user"] == ["bob"]


def test_quoted_alias_on_a_host_line_is_a_hand_written_block():
    old = 'Host "remote-gateway"\n    LocalForward 127.0.0.1:18789 127.0.0.1:9\n'
    new = new_config(old, V, yes)
    assert split_at_block(new, V["alias"])[2] == (
        f'{DISABLED}Host "remote-gateway"\n{DISABLED}    LocalForward 127.0.0.1:18789 127.0.0.1:9\n')
    assert_alias_gets(effective(new, V["alias"])[V["alias"]], V)
