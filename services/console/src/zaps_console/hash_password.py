"""`zaps-console hash-password` (or `python -m zaps_console.hash_password`): print CONSOLE_ADMIN_PASSWORD_HASH.

The password is asked twice without echo, or read from the first line of standard input when that is not a
terminal (`echo "$PASSWORD" | zaps-console hash-password`), so it never sits in the shell's history.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from zaps_console import passwords

MIN_LENGTH = 12


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Console admin password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zaps-console", description="Tools of the runs console.")
    parser.add_argument("command", nargs="?", default="hash-password", choices=["hash-password"])
    parser.add_argument("--n", type=int, default=passwords.DEFAULT_N, help="scrypt cost (a power of two)")
    args = parser.parse_args(argv)
    password = read_password()
    if len(password) < MIN_LENGTH:
        print(f"the password must have at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    try:
        encoded = passwords.hash_password(password, n=args.n)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"CONSOLE_ADMIN_PASSWORD_HASH='{encoded}'")
    # Compose reads `$` as the start of a variable in docker-compose*.yml `environment:` blocks: `$$` is one `$`.
    print(f"# in a docker-compose*.yml environment block: {encoded.replace('$', '$$')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
