"""Portal pages, one module per area; thin like the API's: read the form, call the repository,
render. Every route goes through the same repository scopes and role checks as the API."""
