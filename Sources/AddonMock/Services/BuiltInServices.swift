/// The emulated APIs a plain `addonmock serve` runs, each defined in its own folder here.
public enum BuiltInServices {
    public static let all: [ServiceDefinition] = [CCE.definition, ModelArts.definition]
}
