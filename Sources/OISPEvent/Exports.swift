@_exported import OISPJSON
