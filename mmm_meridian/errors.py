"""Errors that the pipeline reports to users.

Every problem a user can fix (bad input data, bad configuration, missing upstream artifacts) is raised as a
``UserError``: the CLI prints it as one line ``error: <stage>: <message>`` and exits with status 2. Anything else
is an unexpected failure and exits with status 1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix: says what is wrong, where, and how to fix it.

    Args:
        what: what is wrong, echoing the offending value.
        where: the file, column, config key or stage where it was found.
        fix: what the user should do about it.
        stage: the pipeline stage that raised it (filled in by the runner when left empty).
    """

    def __init__(self, what: str, *, where: str = "", fix: str = "", stage: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        self.stage = stage
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"(at {self.where})")
        text = " ".join(parts)
        if self.fix:
            text += f"; fix: {self.fix}"
        return text

    def one_line(self) -> str:
        """The single line the CLI prints on stderr."""
        prefix = f"error: {self.stage}: " if self.stage else "error: "
        return prefix + " ".join(self.message.split())


class ConfigError(UserError):
    """The configuration is invalid (wrong type, out of range, unknown key, impossible combination)."""


class DataError(UserError):
    """The input data cannot be used as configured."""


class MissingArtifactError(UserError):
    """An upstream stage's artifacts are missing, stale or were changed by hand."""


class ConnectorError(UserError):
    """A data connector could not deliver data (network, file or format problem)."""


class NotImplementedFeatureError(ConfigError):
    """A configured feature is declared in the guide but not implemented yet."""
