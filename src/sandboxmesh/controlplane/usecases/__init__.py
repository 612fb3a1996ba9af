"""What a caller may ask of the control plane, each rule written once.

A use case takes the caller's scope (`repository.scope.OrgScope`, inside the caller's unit of
work) or the runtime (when it runs units of work of its own, to mail after a commit), checks
the caller's permission through `authorization` (whose predicates live in `domain.roles`),
calls the repository, and counts what it did once it committed. The API's routes and the
portal's pages only translate HTTP to these calls and back.
"""
