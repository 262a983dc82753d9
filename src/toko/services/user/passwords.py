"""Password hashing (argon2id) and the password policy.

The hasher follows the OWASP Password Storage Cheat Sheet's first argon2id
configuration: m = 19 MiB (19,456 KiB), t = 2 iterations, p = 1 lane. A hash
made with other parameters still verifies, and is replaced by a hash with the
current parameters at the next successful sign-in (``needs_rehash``).

Hashing is deliberately slow (tens of milliseconds), so callers run it in a
worker thread rather than on the event loop.

The policy (NIST SP 800-63B): 8 to 128 characters, not one of the ~1,000 most
common passwords (``data/common-passwords.txt``, shipped with the package), and
not the account's email address. No composition rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from toko.platform.rules import Violation
from toko.services.user.error_codes import ErrorCode

PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 8, 128

# OWASP's recommended argon2id parameters: m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


def load_common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercase."""
    text = resources.files("toko.services.user").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@dataclass(frozen=True)
class PasswordPolicy:
    """Which passwords are accepted."""

    common: frozenset[str] = field(default_factory=load_common_passwords)

    def problems(self, password: str, *, email: str = "", path: str = "password") -> list[Violation]:
        """What is wrong with ``password`` for the account with ``email``; empty when it is fine."""
        if len(password) < PASSWORD_MIN_LENGTH:
            why = f"must be at least {PASSWORD_MIN_LENGTH} characters"
        elif len(password) > PASSWORD_MAX_LENGTH:
            why = f"must be at most {PASSWORD_MAX_LENGTH} characters"
        elif password.strip().lower() in self.common:
            why = "is one of the most common passwords; choose another"
        elif email and password.strip().lower() == email.lower():
            why = "must not be the email address"
        else:
            return []
        return [Violation(path, why, ErrorCode.WEAK_PASSWORD)]


class PasswordHashing:
    """argon2id hashing with OWASP parameters; verification that never raises."""

    def __init__(
        self,
        *,
        memory_kib: int = OWASP_MEMORY_KIB,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = OWASP_PARALLELISM,
    ) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)
        # Verified against when the email is unknown, so that both answers take the same time.
        self.dummy_hash = self._hasher.hash("toko: no such account, same work as a real one")

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password`` (PHC string with its salt and parameters)."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; False for a malformed hash too."""
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
