"""What the control plane's two HTTP faces, the API and the portal, share: the path
parameters they accept (`paths`), the dependency on the process's runtime (`dependencies`),
and the public bodies built from stored records (`schemas`). Neither face imports the other;
both import this, the use cases and the domain (an import-linter contract keeps it so)."""
