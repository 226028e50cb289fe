/// The newest `capacity` elements, oldest first, the oldest replaced once full: the journal's and the event log's
/// storage. A value type; its owners keep it inside their lock.
public struct Ring<Element> {
    public let capacity: Int
    private var elements: [Element] = []
    /// Where the oldest element is, once full.
    private var start = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var count: Int { elements.count }

    /// Appends `element`; returns the one it replaced, if the ring was full (for the caller to release later).
    @discardableResult
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
    public subscript(offset: Int) -> Element { elements[(start + offset) % elements.count] }

    /// Every element, oldest first.
    public var ordered: [Element] { Array(elements[start...] + elements[..<start]) }

    public mutating func removeAll() {
        elements = []
        start = 0
    }
}
