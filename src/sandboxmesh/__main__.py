from sandboxmesh.cli.app import main

main()
