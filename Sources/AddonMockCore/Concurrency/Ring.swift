/// The newest `capacity` elements, oldest first, the oldest replaced once full: the journal's and the event log's
/// storage. A value type; its owners keep it inside their lock.
///
/// Inlinable: it is appended to twice per request from another module, and unspecialized generic code there
/// looked up its type metadata and copied elements through value witnesses on every call.
public struct Ring<Element> {
    public let capacity: Int
    @usableFromInline var elements: [Element] = []
    /// Where the oldest element is, once full.
    @usableFromInline var start = 0

    @inlinable
    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    @inlinable public var count: Int { elements.count }

    /// Appends `element`; returns the one it replaced, if the ring was full (for the caller to release later).
    @inlinable @discardableResult
    public mutating func append(_ element: Element) -> Element? {
        guard elements.count == capacity else {
            elements.append(element)
            return nil
        }
        let replaced = elements[start]
        elements[start] = element
        start = (start + 1) % capacity
        return replaced
    }

    /// The element `offset` places after the oldest.
    @inlinable public subscript(offset: Int) -> Element { elements[(start + offset) % elements.count] }

    /// Every element, oldest first.
    @inlinable public var ordered: [Element] { Array(elements[start...] + elements[..<start]) }

    @inlinable public mutating func removeAll() {
        elements = []
        start = 0
    }
}
