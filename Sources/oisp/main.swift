import OISPCLI

OISPCommand.main()
