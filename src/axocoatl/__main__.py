from axocoatl.cli.main import main

main()
