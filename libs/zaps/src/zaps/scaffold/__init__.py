"""`zaps new service <name>`: a new service in one command, with every edit the stack needs to build, test and
deploy it (docs/automations.md, "Adding a service").

`names` says what the service is called where; `render` fills in its files from the `templates/` folder;
`stack_edits` changes the repository's own files as text; `create` checks, plans and writes.
"""

from zaps.scaffold.create import new_service
from zaps.scaffold.names import ScaffoldError

__all__ = ["ScaffoldError", "new_service"]
