from migguard.cli import main

main()
