from jouleflow.cli.main import main

main()
