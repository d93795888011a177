import Foundation

/// The host name events are stamped with: `[sensor] hostname`, `NODE_NAME`, else the kernel's.
public func sensorHostname(_ configured: String?) -> String {
    if let c = configured, !c.isEmpty { return c }
    if let n = ProcessInfo.processInfo.environment["NODE_NAME"], !n.isEmpty { return n }
    return ProcessInfo.processInfo.hostName
}
