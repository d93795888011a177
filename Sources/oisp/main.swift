import OISPCLI

OISPCommand.start()
