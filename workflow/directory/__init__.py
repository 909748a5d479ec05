"""Directory adapters: who belongs to which group, unit and enterprise, and how to reach them.

:class:`RegisterDirectory` reads the key-enterprise register kept in the
database (imported from CSV, Excel or YAML files, see docs/directory.md);
:class:`StaticDirectory` holds a directory in memory, from a YAML file.
"""

from workflow.directory.register import RegisterDirectory
from workflow.directory.static import StaticDirectory

__all__ = ["RegisterDirectory", "StaticDirectory"]
