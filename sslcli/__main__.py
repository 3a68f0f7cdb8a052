from sslcli.cli import main

main()
