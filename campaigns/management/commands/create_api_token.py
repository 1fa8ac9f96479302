from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.models import ApiToken
from campaigns.services.errors import InvalidInput
from campaigns.services.tokens import token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME; the token is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--scope", action="append", dest="scopes", choices=[s.value for s in ApiToken.Scope],
            help="repeat for several scopes (default: read, write, launch)",
        )
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=opts["username"])
        except User.DoesNotExist as exc:
            raise CommandError(f"no user named {opts['username']!r}") from exc
        scopes = opts["scopes"] or ["read", "write", "launch"]
        try:
            token, raw = token_create(user=user, scopes=scopes, name=opts["name"])
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Token cgk_{token.prefix}… for {user.username} with scopes {', '.join(token.scopes)}; "
                          "it is shown once, store it now:")
        self.stdout.write(raw)
