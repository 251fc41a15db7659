"""An example openclaw-remote plugin: one step, ``hello``, run right after ``ssh-config``.

It asks one question, writes one file, checks its own work, and knows how to undo
it, which is all a step needs to do. Copy it as a starting point for your own steps.
"""

from wizard import Question, RemoveFile, Step, StepFailed, WriteFile, hookimpl


class Hello(Step):
    name = "hello"
    title = "Leave a greeting note in the home directory"
    after = ("ssh-config",)
    questions = (
        Question("greeting", "Greeting to write in the note", default="Hello from openclaw-remote"),
    )

    def note_path(self, ctx):
        return ctx.path("openclaw-remote-hello.txt")

    def note_text(self, ctx):
        return ctx.answer("greeting") + "\n"

    def plan(self, ctx):
        if self.note_path(ctx).exists() and self.note_path(ctx).read_text() == self.note_text(ctx):
            return []  # already done: the host reports it and changes nothing
        return [WriteFile(self.note_path(ctx), self.note_text(ctx), mode=0o644)]

    def verify(self, ctx):
        if self.note_path(ctx).read_text() != self.note_text(ctx):
            raise StepFailed(f"{self.note_path(ctx)} does not hold the note")

    def undo(self, ctx):
        # The note is ours alone, so it goes without a backup; `[]` means nothing is left to undo.
        return [RemoveFile(self.note_path(ctx), backup=False)] if self.note_path(ctx).exists() else []


@hookimpl
def register_steps(register):
    register(Hello())
